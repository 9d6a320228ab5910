"""Synthetic shop traffic, reproducible for a seed, streamed one document at a time.

Sessions arrive in time order. Each buying session views pages (generation
times drawn from a per-page-type log-normal), looks at products, puts items in
a cart and checks out; some sessions only browse. Every document carries a
deterministic `_id`, so loading the same output twice writes nothing new.

Two profiles:
- `shop` (the default): 400 items; baskets of ~4.6 items from hidden
  co-purchase groups over a Zipf-like catalogue, so a recommender has
  something to find.
- `grocery`: shaped like a real grocery set (14,590 orders, 13,861 products):
  a catalogue with Zipf-Mandelbrot popularity of which 15,000 orders buy about
  16,000 products, ~10 items an order (carts past 50 items happen), every order
  signed in by one of orders/10 users of uneven activity, and about 71 % of
  the items of a user's order bought by that user before: most repeats are
  any item of the user's repertoire, each as likely (a long tail of one-offs
  bought again), the rest lean to often and lately bought ones; new items
  follow popularity or, less often, go with a companion from the same aisle.
  This noise is calibrated so that per-user evaluation ranks the methods as
  real grocery orders do, at similar levels (docs/evaluation.md). In 15,000
  orders the most popular product co-occurs with ~5,300 others, the median
  one with ~37, the 99th percentile with ~910 (real set: 5,277, 35, 792).
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from datetime import datetime, timedelta, timezone
from typing import Iterator

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
PROFILES = ("shop", "grocery")


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


def stamp(moment: datetime) -> str:
    """Format a UTC moment as a stored timestamp (what schema.format_timestamp gives, several times faster)."""
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


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

    def __init__(self, *, seed: int, orders: int, days: int, start: datetime = DEFAULT_START):
        self.rng = random.Random(seed)
        self.seed = seed
        self.orders = orders
        self.shop = self.build_shop()
        self.clock = start.astimezone(timezone.utc)
        # Each order comes with 0.4 / 0.6 browsing sessions on average (see documents()).
        self.mean_gap = timedelta(days=days) / max(1, orders) * (1 - BROWSE_ONLY)
        self.counter = 0

    def build_shop(self) -> Shop:
        return build_shop(self.rng, orders=self.orders, n_items=400, n_groups=60)

    def documents(self) -> Iterator[dict]:
        for order_number in range(1, self.orders + 1):
            while self.rng.random() < BROWSE_ONLY:
                yield from self.session(buys=False, order_number=None)
            yield from self.session(buys=True, order_number=order_number)

    # -- one session -----------------------------------------------------------

    def session(self, *, buys: bool, order_number: int | None) -> Iterator[dict]:
        self.clock += timedelta(seconds=self.rng.expovariate(1.0 / self.mean_gap.total_seconds()))
        moment = self.clock
        user = self.shopper(buys=buys)
        session_id = f"s{self.seed}-{self.counter:08d}"
        basket = self.basket(user) if buys else []
        browsed = [self.popular_item() for _ in range(self.rng.randint(0 if buys else 1, 3))]

        def log(log_type: str, **fields) -> dict:
            nonlocal moment
            moment += timedelta(seconds=self.rng.uniform(2, 40))
            self.counter += 1
            doc = {"_id": f"gen{self.seed}-{self.counter:08d}", "log_type": log_type,
                   "timestamp": stamp(moment), "session_id": session_id, **fields}
            if user:
                doc["user_id"] = user
            return doc

        yield log("page_view", page_type="home", generation_time=self.page_time("home"))
        for _ in range(self.rng.randint(0, 2)):
            page_type = self.rng.choice(["search", "category"])
            yield log("page_view", page_type=page_type, generation_time=self.page_time(page_type))
        for item in browsed + self.viewed(basket):
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

    def shopper(self, *, buys: bool) -> str | None:
        """The signed-in user of a session, or None for a guest."""
        return self.rng.choice(self.shop.users) if self.rng.random() < 0.85 else None

    def viewed(self, basket: list[str]) -> list[str]:
        """The basket's items whose product pages the shopper opened before buying."""
        return basket

    def basket(self, user: str | None) -> list[str]:
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


@dataclass(frozen=True)
class Grocery:
    """The hidden structure of the grocery profile."""

    items: list[str]
    cum_weights: list[float]          # Zipf popularity, cumulative, for bisect sampling
    aisle_of: list[int]               # item index -> aisle
    aisles: list[tuple[list[int], list[float]]]  # aisle -> (item indexes, cumulative popularity)
    prices: dict[str, float]
    users: list[str]
    user_cum_weights: list[float]     # how often each user shops, cumulative
    basket_means: list[float]         # each user's usual basket size


GROCERY_PRODUCTS = 50_000
GROCERY_AISLES = 134
GROCERY_EXPONENT = 1.05     # popularity of the product of rank r: (r + GROCERY_OFFSET) ** -GROCERY_EXPONENT
GROCERY_OFFSET = 15.0
ORDERS_PER_USER = 10
REPEAT = 0.77               # chance that a basket slot is filled from the user's own history
RECENT = 0.15               # ... and that such a repeat comes from the user's last few orders
RECENT_ITEMS = 25           # how far back "last few orders" reaches, in purchases
SPREAD = 0.7                # ... or from any item the user ever bought, each as likely (a repertoire's long tail)
COMPANION = 0.15            # chance that a new item goes with an aisle companion of one already chosen
HISTORY_KEPT = 400          # purchases remembered per user (bounds memory on long runs)
VIEWED = 3                  # product pages a grocery shopper opens per order (the rest come from lists)


def build_grocery(rng: random.Random, *, orders: int) -> Grocery:
    items = [f"item-{i:05d}" for i in range(1, GROCERY_PRODUCTS + 1)]
    weights = [(rank + GROCERY_OFFSET) ** -GROCERY_EXPONENT for rank in range(1, GROCERY_PRODUCTS + 1)]
    aisle_of = [rng.randrange(GROCERY_AISLES) for _ in items]
    members: list[list[int]] = [[] for _ in range(GROCERY_AISLES)]
    for index, aisle in enumerate(aisle_of):
        members[aisle].append(index)
    aisles = [(indexes, list(accumulate(weights[i] for i in indexes))) for indexes in members]
    users = [f"user-{i:06d}" for i in range(1, max(2, orders // ORDERS_PER_USER) + 1)]
    activity = [rng.lognormvariate(0.0, 0.8) for _ in users]
    basket_means = [rng.lognormvariate(math.log(7.8), 0.45) for _ in users]
    prices = {item: round(rng.lognormvariate(math.log(4.0), 0.7), 2) for item in items}
    return Grocery(items, list(accumulate(weights)), aisle_of, aisles, prices, users,
                   list(accumulate(activity)), basket_means)


class GroceryGenerator(TrafficGenerator):
    """Traffic of a grocery shop: a long-tailed catalogue and users who buy their usual things again."""

    def __init__(self, *, seed: int, orders: int, days: int, start: datetime = DEFAULT_START):
        super().__init__(seed=seed, orders=orders, days=days, start=start)
        self.bought: dict[str, list[int]] = {}  # user -> item indexes, one entry per purchase, oldest first
        self.repertoire: dict[str, dict[int, None]] = {}  # user -> every item index the user bought
        self.user_index = {user: index for index, user in enumerate(self.shop.users)}

    def build_shop(self) -> Grocery:
        return build_grocery(self.rng, orders=self.orders)

    def shopper(self, *, buys: bool) -> str | None:
        if buys:
            return self.shop.users[bisect(self.shop.user_cum_weights, self.rng.random() * self.shop.user_cum_weights[-1])]
        return super().shopper(buys=buys)

    def viewed(self, basket: list[str]) -> list[str]:
        return basket[-VIEWED:]  # the new items come last: those are the ones looked at

    def basket(self, user: str | None) -> list[str]:
        rng, shop = self.rng, self.shop
        history = self.bought.setdefault(user, [])
        repertoire = self.repertoire.setdefault(user, {})
        mean = shop.basket_means[self.user_index[user]]
        size = min(500, max(1, round(rng.lognormvariate(math.log(mean), 0.55))))
        repeats: dict[int, None] = {}
        new: dict[int, None] = {}
        for _ in range(size * 3):
            if len(repeats) + len(new) >= size:
                break
            if history and rng.random() < REPEAT:
                which = rng.random()
                if which < SPREAD:
                    repeats[rng.choice(list(repertoire))] = None
                else:
                    window = len(history) if which >= SPREAD + RECENT else min(len(history), RECENT_ITEMS)
                    repeats[history[-1 - int(rng.random() * window)]] = None
            elif (new or repeats) and rng.random() < COMPANION:
                anchor = rng.choice(list(new or repeats))
                indexes, cum = shop.aisles[shop.aisle_of[anchor]]
                new[indexes[bisect(cum, rng.random() * cum[-1])]] = None
            else:
                new[bisect(shop.cum_weights, rng.random() * shop.cum_weights[-1])] = None
        chosen = list(repeats) + [index for index in new if index not in repeats]
        history.extend(chosen)
        repertoire.update(dict.fromkeys(chosen))
        del history[:-HISTORY_KEPT]
        return [shop.items[index] for index in chosen]

    def popular_item(self) -> str:
        return self.shop.items[bisect(self.shop.cum_weights, self.rng.random() * self.shop.cum_weights[-1])]


def generate(*, seed: int = 42, orders: int = 3000, days: int = 28, start: datetime = DEFAULT_START,
             profile: str = "shop") -> Iterator[dict]:
    """Yield the documents of a synthetic shop of a profile (PROFILES); the same arguments give the same documents."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    generator = GroceryGenerator if profile == "grocery" else TrafficGenerator
    return generator(seed=seed, orders=orders, days=days, start=start).documents()
