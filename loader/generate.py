"""Synthetic shop traffic, reproducible for a seed.

Sessions arrive in time order. Each buying session views pages (generation
times drawn from a per-page-type log-normal), looks at products, puts items in
a cart and checks out. Baskets come from hidden co-purchase groups over a
Zipf-like catalogue, plus a little noise, so a recommender has something real
to find; some sessions only browse. Every document carries a deterministic
`_id`, so loading the same output twice writes nothing new.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from loader.schema import format_timestamp

# Median generation time (ms) and log-normal sigma per page type.
PAGE_TIMES = {
    "home": (80.0, 0.45),
    "search": (180.0, 0.6),
    "category": (120.0, 0.5),
    "product": (150.0, 0.5),
    "cart": (90.0, 0.4),
    "checkout": (250.0, 0.55),
}
DEFAULT_START = datetime(2026, 10, 1, tzinfo=timezone.utc)
BROWSE_ONLY = 0.4  # chance that another browse-only session comes before a buying one


@dataclass(frozen=True)
class Shop:
    """The hidden structure behind the traffic: catalogue, popularity, co-purchase groups."""

    items: list[str]
    weights: list[float]
    prices: dict[str, float]
    groups: list[list[str]]
    group_weights: list[float]
    users: list[str]


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (rank ** exponent) for rank in range(1, n + 1)]


def build_shop(rng: random.Random, *, orders: int, n_items: int, n_groups: int) -> Shop:
    items = [f"item-{i:05d}" for i in range(1, n_items + 1)]
    weights = zipf_weights(n_items, 1.0)
    groups = []
    for _ in range(n_groups):
        size = rng.randint(3, 7)
        group: dict[str, None] = {}
        while len(group) < size:
            group[rng.choices(items, weights)[0] if rng.random() < 0.2 else rng.choice(items)] = None
        groups.append(list(group))
    users = [f"user-{i:06d}" for i in range(1, max(2, orders // 3) + 1)]
    prices = {item: round(rng.lognormvariate(math.log(12.0), 0.8), 2) for item in items}
    return Shop(items, weights, prices, groups, zipf_weights(n_groups, 0.8), users)


class TrafficGenerator:
    """Produces log documents for `orders` buying sessions and some browsing ones."""

    def __init__(self, *, seed: int, orders: int, days: int, start: datetime = DEFAULT_START,
                 n_items: int = 400, n_groups: int = 60):
        self.rng = random.Random(seed)
        self.seed = seed
        self.orders = orders
        self.shop = build_shop(self.rng, orders=orders, n_items=n_items, n_groups=n_groups)
        self.clock = start
        # Each order comes with 0.4 / 0.6 browsing sessions on average (see documents()).
        self.mean_gap = timedelta(days=days) / max(1, orders) * (1 - BROWSE_ONLY)
        self.counter = 0

    def documents(self) -> Iterator[dict]:
        for order_number in range(1, self.orders + 1):
            while self.rng.random() < BROWSE_ONLY:
                yield from self.session(buys=False, order_number=None)
            yield from self.session(buys=True, order_number=order_number)

    # -- one session -----------------------------------------------------------

    def session(self, *, buys: bool, order_number: int | None) -> Iterator[dict]:
        self.clock += timedelta(seconds=self.rng.expovariate(1.0 / self.mean_gap.total_seconds()))
        moment = self.clock
        user = self.rng.choice(self.shop.users) if self.rng.random() < 0.85 else None
        session_id = f"s{self.seed}-{self.counter:08d}"
        basket = self.basket() if buys else []
        browsed = [self.popular_item() for _ in range(self.rng.randint(0 if buys else 1, 3))]

        def log(log_type: str, **fields) -> dict:
            nonlocal moment
            moment += timedelta(seconds=self.rng.uniform(2, 40))
            self.counter += 1
            doc = {"_id": f"gen{self.seed}-{self.counter:08d}", "log_type": log_type,
                   "timestamp": format_timestamp(moment), "session_id": session_id, **fields}
            if user:
                doc["user_id"] = user
            return doc

        yield log("page_view", page_type="home", generation_time=self.page_time("home"))
        for _ in range(self.rng.randint(0, 2)):
            page_type = self.rng.choice(["search", "category"])
            yield log("page_view", page_type=page_type, generation_time=self.page_time(page_type))
        for item in browsed + basket:
            yield log("page_view", page_type="product", item_id=item, generation_time=self.page_time("product"))
            yield log("access", item_id=item)
        if not buys:
            return
        cart_id = f"cart-{session_id}"
        quantities = {item: self.rng.choice([1, 1, 1, 2, 3]) for item in basket}
        for item in basket:
            yield log("cart", cart_id=cart_id, action="add", item_id=item, quantity=quantities[item])
        yield log("page_view", page_type="cart", generation_time=self.page_time("cart"))
        yield log("page_view", page_type="checkout", generation_time=self.page_time("checkout"))
        order_id = f"order{self.seed}-{order_number:07d}"
        if len(basket) == 1 and user and self.rng.random() < 0.5:
            yield log("purchase", item_id=basket[0], order_id=order_id)
            return
        if self.rng.random() < 0.2:
            lines: list = list(basket)
        else:
            lines = [{"item_id": item, "quantity": quantities[item], "price": self.shop.prices[item]} for item in basket]
        yield log("checkout", order_id=order_id, items=lines)

    def basket(self) -> list[str]:
        rng, shop = self.rng, self.shop
        chosen: dict[str, None] = {}
        if rng.random() < 0.85:
            group = rng.choices(shop.groups, shop.group_weights)[0]
            chosen.update(dict.fromkeys(rng.sample(group, rng.randint(2, min(4, len(group))))))
            if rng.random() < 0.25:
                other = rng.choices(shop.groups, shop.group_weights)[0]
                chosen.update(dict.fromkeys(rng.sample(other, rng.randint(1, 2))))
        for _ in range(rng.choice([0, 0, 1, 1, 2]) if chosen else rng.randint(1, 3)):
            chosen[self.popular_item()] = None
        return list(chosen)

    def popular_item(self) -> str:
        return self.rng.choices(self.shop.items, self.shop.weights)[0]

    def page_time(self, page_type: str) -> float:
        median, sigma = PAGE_TIMES[page_type]
        return round(self.rng.lognormvariate(math.log(median), sigma), 1)


def generate(*, seed: int = 42, orders: int = 3000, days: int = 28, start: datetime = DEFAULT_START) -> Iterator[dict]:
    """Yield the documents of a synthetic shop; the same arguments give the same documents."""
    return TrafficGenerator(seed=seed, orders=orders, days=days, start=start).documents()
