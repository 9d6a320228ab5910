"""`couchrec tune`: choose the recommendation settings on the shop's own orders.

The orders are read from `history/orders` and split per user (loader/tuning/evaluate.py's
`split_per_user`): each returning user's last order is held out, every other order
(guests' too) is loaded into a fresh database with the real views. Users with a
single order are cold start: nothing to hold out, counted in the report. From each
held-out order one item is drawn; the rest is the cart. Past `max_users` returning
users, a seeded sample of them is asked (said in the report), which bounds the time.

For every co-purchase score (count, confidence, Jaccard, cosine: lift and LLR lose
everywhere) and `min_support` (1, 2) the cart's candidates come from the real
`recommend()`; the carts alone are ranked by them, and the cart with its owner by
`blend()` over every history weight and every half-life `history/recency`
serves, each list topped up with best sellers as the service does. The setting with
the best hit-rate@k wins (MRR breaks ties, then the order of the grid: today's
defaults first). Each figure carries a 95 % confidence interval (normal approximation
over the held-out items). The best of ~400 settings flatters itself on the users it was
chosen on, so the table also scores the setting chosen on every other user on the rest.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import product
from typing import Callable, Iterator

from loader.couchdb.couch import Couch
from loader.couchdb.viewcache import ViewCache
from loader.recommendations.history import CANDIDATES, HALF_LIVES, blend, habit_scores, read_history
from loader.recommendations.ranking import by_count
from loader.recommendations.recommend import DEFAULT_SCORE, recommend
from loader.tuning.baskets import Basket
from loader.tuning.evaluate import BASELINE, split_per_user, trained
from loader.tuning.tuned import RecommendSettings

MIN_SUPPORTS = (1, 2)
WEIGHTS = (0.8, 0.0, 0.2, 0.35, 0.5, 0.65, 0.9, 1.0)
TUNED_HALF_LIVES = (30.0, None, *(h for h in HALF_LIVES if h != 30.0))
TUNED_SCORES = (DEFAULT_SCORE, "count", "jaccard", "cosine")
DEFAULT_MAX_USERS = 500
ASK_THREADS = 4  # users asked at once: their view reads overlap (answers are merged in the sample's order)
ORDERS_PAGE = 5000
TUNE_DESIGNS = ("_design/recommend", "_design/history")  # all the tuner reads: the others are not built


def read_orders(couch: Couch) -> Iterator[Basket]:
    """Every order of the shop, oldest first, from `history/orders` (paged by key and doc id)."""
    start: dict = {}
    while True:
        rows = couch.query_view("history", "orders", limit=ORDERS_PAGE + 1, **start)["rows"]
        for row in rows[:ORDERS_PAGE]:
            user, order_id, items = row["value"]
            yield Basket(order_id, tuple(items), row["key"], user)
        if len(rows) <= ORDERS_PAGE:
            return
        start = {"startkey": rows[-1]["key"], "startkey_docid": rows[-1]["id"]}


@dataclass
class Ranks:
    """The reciprocal rank of each held-out item (0 when it is not in the list)."""

    reciprocal: list[float] = field(default_factory=list)

    def add(self, ranked: list[str], held_out: str) -> None:
        self.reciprocal.append(1.0 / (ranked.index(held_out) + 1) if held_out in ranked else 0.0)

    def key(self) -> tuple[float, float]:
        return mean(hit_flags(self.reciprocal)), mean(self.reciprocal)

    def row(self) -> dict:
        hit_rate, hit_ci = interval(hit_flags(self.reciprocal))
        mrr, mrr_ci = interval(self.reciprocal)
        return {"hit_rate": hit_rate, "hit_rate_ci": hit_ci, "mrr": mrr, "mrr_ci": mrr_ci}


def hit_flags(reciprocal: list[float]) -> list[float]:
    return [1.0 if rank > 0 else 0.0 for rank in reciprocal]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def interval(values: list[float]) -> tuple[float, list[float]]:
    """The mean and its 95 % confidence interval (normal approximation), clipped to [0, 1]."""
    if len(values) < 2:
        return mean(values), [0.0, 1.0]
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    centre = mean(values)
    return centre, [max(0.0, centre - half), min(1.0, centre + half)]


@dataclass
class Tuning:
    settings: RecommendSettings
    report: dict

    def markdown(self) -> str:
        k = self.report["k"]
        lines = [f"| ranking | hit-rate@{k} (95 % CI) | MRR@{k} (95 % CI) |", "|---|---|---|"]
        for row in self.report["table"]:
            lines.append(f"| {row['ranking']} | {row['hit_rate']:.3f} ({row['hit_rate_ci'][0]:.3f}–"
                         f"{row['hit_rate_ci'][1]:.3f}) | {row['mrr']:.3f} ({row['mrr_ci'][0]:.3f}–{row['mrr_ci'][1]:.3f}) |")
        return "\n".join(lines)


def cart_name(score: str, min_support: int) -> str:
    return f"{score}, min_support {min_support}"


def owner_name(score: str, min_support: int, weight: float, half_life: float | None) -> str:
    decay = "no decay" if half_life is None else f"half-life {half_life:g} d"
    return f"{cart_name(score, min_support)}, weight {weight:g}, {decay}"


def topped_up(ranked: list[str], popular: list[str], *, k: int, exclude: set[str]) -> list[str]:
    """`ranked` cut to k, filled with best sellers not excluded nor already there (the service's popular fill)."""
    answer = ranked[:k]
    taken = exclude | set(answer)
    for item in popular:
        if len(answer) >= k:
            break
        if item not in taken:
            answer.append(item)
    return answer


def sample_users(test: list[Basket], *, max_users: int, seed: int) -> list[Basket]:
    """The held-out orders to ask (two items at least: one held out, one for the cart), at most `max_users`."""
    askable = [basket for basket in test if len(basket.items) >= 2]
    return random.Random(seed).sample(askable, max_users) if len(askable) > max_users else askable


def ask_user(views: ViewCache, basket: Basket, held_out: str, popular: list[str], *, k: int
             ) -> tuple[dict[tuple, list[str]], dict[tuple, list[str]]]:
    """One held-out item's lists, every way the grid says: the cart's alone, and the cart's with its owner."""
    cart = [item for item in basket.items if item != held_out]
    banned = set(cart)
    history = read_history(views, basket.user_id)
    habits = {half_life: habit_scores(history, half_life=half_life) for half_life in TUNED_HALF_LIVES}
    carts, owners = {}, {}
    for score, min_support in product(TUNED_SCORES, MIN_SUPPORTS):
        pairs = recommend(views, cart, exclude=banned, score=score, min_support=min_support, limit=CANDIDATES,
                          backfill=False)
        carts[score, min_support] = topped_up([r.item_id for r in pairs], popular, k=k, exclude=banned)
        for weight, half_life in product(WEIGHTS, TUNED_HALF_LIVES):
            mixed = blend(history, pairs, limit=k, exclude=banned, weight=weight, habits=habits[half_life])
            owners[score, min_support, weight, half_life] = topped_up([r.item_id for r in mixed], popular, k=k,
                                                                      exclude=banned)
    return carts, owners


def tune(couchdb_url: str, couch: Couch, *, k: int = 10, max_users: int = DEFAULT_MAX_USERS, seed: int = 7,
         say: Callable[[str], None] = lambda message: None,
         progress: Callable[[int, int], None] = lambda done, total: None) -> Tuning:
    """Search the settings on `couch`'s orders (trained in a fresh database on `couchdb_url`); report the best."""
    started = time.monotonic()
    orders = list(read_orders(couch))
    train, test = split_per_user(orders)
    users = {basket.user_id for basket in orders if basket.user_id}
    asked = sample_users(test, max_users=max_users, seed=seed)
    say(f"{len(orders)} orders, {len(users)} signed-in users: {len(test)} returning, {len(users) - len(test)} "
        f"with one order (cold start); asking {len(asked)} users' last orders"
        + (f" (a sample: more than --max-users {max_users})" if len(asked) < len(test) else ""))
    seconds: dict[str, float] = {"read_orders": time.monotonic() - started}
    rng = random.Random(seed)
    with trained(couchdb_url, train, seconds, say=say, how="per-user", designs=TUNE_DESIGNS) as views:
        totals = {row["key"]: row["value"] for row in views.query("recommend", "item_purchases", group=True)["rows"]}
        popular = by_count(totals)
        baseline = Ranks()
        carts = {combo: Ranks() for combo in product(TUNED_SCORES, MIN_SUPPORTS)}
        owners = {combo: Ranks() for combo in product(TUNED_SCORES, MIN_SUPPORTS, WEIGHTS, TUNED_HALF_LIVES)}
        asking = time.monotonic()
        held_out = [rng.choice(basket.items) for basket in asked]
        with ThreadPoolExecutor(max_workers=ASK_THREADS) as pool:
            answers = pool.map(lambda one: ask_user(views, *one, popular, k=k), zip(asked, held_out))
            for number, (basket, item, (cart_lists, owner_lists)) in enumerate(zip(asked, held_out, answers), start=1):
                baseline.add(topped_up([], popular, k=k, exclude=set(basket.items) - {item}), item)
                for combo, ranked in cart_lists.items():
                    carts[combo].add(ranked, item)
                for combo, ranked in owner_lists.items():
                    owners[combo].add(ranked, item)
                progress(number, len(asked))
        seconds["queries"] = time.monotonic() - asking
    return choose(carts, owners, baseline, k=k, report={
        "k": k, "orders": len(orders), "train_orders": len(train), "users": len(users), "returning_users": len(test),
        "cold_start_users": len(users) - len(test), "asked_users": len(asked), "max_users": max_users,
        "sampled": len(asked) < len(test), "seed": seed, "seconds": {**seconds, "total": time.monotonic() - started}})


def held_apart(owners: dict[tuple, Ranks]) -> tuple[str, Ranks]:
    """The grid's best on every other user, scored on the users it was not chosen on: the figure to expect on
    orders the tuner has not seen (the best of ~400 settings on the same users flatters itself)."""
    chosen_on = {combo: Ranks(ranks.reciprocal[::2]) for combo, ranks in owners.items()}
    best = max(chosen_on, key=lambda combo: chosen_on[combo].key())
    return (f"cart with its owner, chosen on half the users, scored on the other half ({owner_name(*best)})",
            Ranks(owners[best].reciprocal[1::2]))


def choose(carts: dict[tuple, Ranks], owners: dict[tuple, Ranks], baseline: Ranks, *, k: int, report: dict
           ) -> Tuning:
    """The best setting of each grid (first in grid order among equals), and the table that shows why."""
    best_cart = max(carts, key=lambda combo: carts[combo].key())  # max keeps the first of equals
    best_owner = max(owners, key=lambda combo: owners[combo].key())
    settings = RecommendSettings(*best_cart, *best_owner)
    today = RecommendSettings()
    today_cart, today_owner = (today.cart_score, today.cart_min_support), (
        today.owner_score, today.owner_min_support, today.weight, today.half_life)
    rows = [(f"{BASELINE}: best sellers not in the cart", baseline),
            (f"cart alone, today's defaults ({cart_name(*today_cart)})", carts[today_cart]),
            (f"cart alone, chosen ({cart_name(*best_cart)})", carts[best_cart]),
            (f"cart with its owner, today's defaults ({owner_name(*today_owner)})", owners[today_owner]),
            (f"cart with its owner, chosen ({owner_name(*best_owner)})", owners[best_owner]),
            held_apart(owners)]
    runners_up = sorted(owners, key=lambda combo: owners[combo].key(), reverse=True)[:5]
    report = {**report, "table": [{"ranking": name, **ranks.row()} for name, ranks in rows],
              "owner_runners_up": [{"setting": owner_name(*combo), **owners[combo].row()} for combo in runners_up],
              "chosen": settings.as_dict(), "tuned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return Tuning(settings, report)
