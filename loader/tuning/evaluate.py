"""Offline evaluation of the recommender through its real code path.

Orders are split into train and test (by time when every basket has a
timestamp, else at random with a seed). The train orders are written as
checkout logs into a fresh database with the design docs installed, and the
views are built there. From each test basket one item is held out; the rest
go to `recommend()` (the views, the scoring, the popular fill: what the service
runs), once per score, and to the popularity baseline. Reported per scorer:
hit-rate@k (the held-out item is in the top k), recall@k (held-out items found;
equal to hit-rate when one item is held out), MRR (1/rank, 0 past k) and
catalogue coverage (distinct items recommended / items in the train orders).
Count and confidence are also asked through the stored neighbour lists (top
`neighbours_k` per item, loader/recommendations/neighbours.py), the path the service takes, so
the cost of keeping only K neighbours shows as a hit-rate difference.

The per-user split (`evaluate_users`) tests each user's last order instead,
training on every other order: the cart's co-purchases, the user's history
(loader/recommendations/history.py) and their blend side by side with popularity, and the
blend over a grid of weights and recency half-lives.
"""

from __future__ import annotations

import random
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from loader.couchdb.couch import Couch, chunks
from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import default_settle
from loader.designdocs.deploy import compile_for, install_all
from loader.logs.ingest import PendingLog, write_logs
from loader.logs.schema import MAX_BASKET_ITEMS
from loader.recommendations.history import (CANDIDATES, DEFAULT_HALF_LIFE, DEFAULT_WEIGHT,
                                            HALF_LIVES as SERVED_HALF_LIVES, blend, buy_again, cart_for_user,
                                            read_history)
from loader.recommendations.neighbours import DEFAULT_K, LIST_SCORES, ListReader, lists_db, rebuild
from loader.recommendations.recommend import Recommendation, fill_popular, popular, recommend
from loader.recommendations.scoring import SCORES
from loader.tuning.baskets import Basket

BASELINE = "popularity"
THROUGH_LISTS = {f"{name} (lists)": name for name in LIST_SCORES}
UNDATED = "2026-01-01T00:00:00.000Z"


@dataclass
class Tally:
    queries: int = 0
    hits: int = 0
    reciprocal_ranks: float = 0.0
    recommended: set[str] = field(default_factory=set)

    def add(self, ranked: list[str], held_out: str) -> None:
        self.queries += 1
        self.recommended.update(ranked)
        if held_out in ranked:
            self.hits += 1
            self.reciprocal_ranks += 1.0 / (ranked.index(held_out) + 1)

    def row(self, catalogue: int) -> dict:
        rate = self.hits / self.queries if self.queries else 0.0
        return {"hit_rate": rate, "recall": rate, "mrr": self.reciprocal_ranks / max(1, self.queries),
                "coverage": len(self.recommended) / max(1, catalogue)}


@dataclass
class Evaluation:
    k: int
    split: str
    train_orders: int
    test_queries: int
    catalogue: int
    results: dict[str, dict]
    seconds: dict[str, float]

    def best(self) -> str:
        return max(SCORES, key=lambda name: (self.results[name]["hit_rate"], self.results[name]["mrr"]))

    def markdown(self) -> str:
        lines = [f"| scorer | hit-rate@{self.k} | recall@{self.k} | MRR@{self.k} | coverage |", "|---|---|---|---|---|"]
        for name, row in self.results.items():
            lines.append(f"| {name} | {row['hit_rate']:.3f} | {row['recall']:.3f} | {row['mrr']:.3f} | {row['coverage']:.3f} |")
        return "\n".join(lines)


def split_baskets(baskets: list[Basket], *, test_fraction: float, seed: int) -> tuple[list[Basket], list[Basket], str]:
    """Train on the earlier orders and test on the later ones when all are dated, else split at random."""
    if all(basket.timestamp for basket in baskets):
        ordered, how = sorted(baskets, key=lambda basket: basket.timestamp), "time"
    else:
        ordered, how = baskets[:], f"random (seed {seed})"
        random.Random(seed).shuffle(ordered)
    cut = len(ordered) - max(1, round(len(ordered) * test_fraction))
    return ordered[:cut], ordered[cut:], how


def load_train(couch: Couch, train: list[Basket]) -> None:
    """Write the train orders as checkout logs, through the same writer as the loader."""
    logs = [
        PendingLog(f"eval-{number}", {"log_type": "checkout", "order_id": basket.order_id[:128],
                                     "items": list(basket.items), "timestamp": basket.timestamp or UNDATED,
                                     **({"user_id": basket.user_id} if basket.user_id else {})})
        for number, basket in enumerate(train)
        if 1 <= len(basket.items) <= MAX_BASKET_ITEMS
    ]
    for batch in chunks(logs, 500):
        refused = [outcome for outcome in write_logs(couch, batch) if not outcome.stored]
        if refused:
            raise ValueError(f"the train orders do not fit the schema: {refused[0].field}: {refused[0].reason}")


class FrozenViews(ViewCache):
    """Cached view answers over an index that no longer changes. A `keys` question on the grouped
    `item_purchases` is answered from that view's one full grouped answer: the same rows, without a
    query per test basket for thousands of candidates' counts."""

    def query(self, ddoc: str, view: str, **params) -> dict:
        if (ddoc, view) != ("recommend", "item_purchases") or "keys" not in params or params.get("group") is not True:
            return super().query(ddoc, view, **params)
        rest = {name: value for name, value in params.items() if name != "keys"}
        totals = {row["key"]: row["value"] for row in super().query(ddoc, view, **rest)["rows"]}
        return {"rows": [{"key": key, "value": totals[key]} for key in params["keys"] if key in totals]}


@contextmanager
def trained(couchdb_url: str, train: list[Basket], seconds: dict[str, float], *, say: Callable[[str], None],
            how: str, designs: tuple[str, ...] | None = None) -> Iterator[ViewCache]:
    """A fresh database holding the train orders with the views of `designs` (default: every design doc) built,
    deleted afterwards (with the neighbour lists built beside it, if any)."""
    couch = Couch(couchdb_url, f"couchrec_eval_{uuid.uuid4().hex[:10]}", timeout=600)
    try:
        started = time.monotonic()
        ddocs = {ddoc_id: ddoc for ddoc_id, ddoc in compile_for(couch).items() if designs is None or ddoc_id in designs}
        install_all(couch, ddocs)
        load_train(couch, train)
        warm_views(couch, ddocs, say=say, timeout=7200)
        time.sleep(default_settle(couch))  # a cluster's other shard copies may still be taking the last writes
        seconds["load_and_index"] = time.monotonic() - started
        say(f"{len(train)} train orders loaded and indexed in {seconds['load_and_index']:.0f} s ({how} split)")
        # Nothing changes while we ask, so each answer is cached for good; update=true still has a cluster's
        # shard copy that the warm-up did not read bring its index up to date before its first answer.
        yield FrozenViews(couch, update="true", max_age=float("inf"))
    finally:
        couch.delete_db()
        lists_db(couch).delete_db()


def evaluate(
    couchdb_url: str,
    baskets: list[Basket],
    *,
    k: int = 10,
    test_fraction: float = 0.2,
    seed: int = 7,
    max_test: int | None = None,
    neighbours_k: int = DEFAULT_K,
    say: Callable[[str], None] = lambda message: None,
) -> Evaluation:
    """Train in a fresh database, query the real recommender for every test basket, tally the scorers."""
    train, test, how = split_baskets(baskets, test_fraction=test_fraction, seed=seed)
    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    with trained(couchdb_url, train, seconds, say=say, how=how) as views:
        started = time.monotonic()
        rebuild(views.couch, k=neighbours_k, settle=default_settle(views.couch))  # a cluster's views may lag the load
        seconds["neighbour_lists"] = time.monotonic() - started
        lists = ListReader(lists_db(views.couch))
        tallies = {name: Tally() for name in (*SCORES, *THROUGH_LISTS, BASELINE)}
        queries = [basket for basket in test if len(basket.items) >= 2][:max_test]
        started = time.monotonic()
        for number, basket in enumerate(queries, start=1):
            held_out = rng.choice(basket.items)
            seeds = [item for item in basket.items if item != held_out]
            for name in SCORES:
                ranked = [r.item_id for r in recommend(views, seeds, score=name, limit=k)]
                tallies[name].add(ranked, held_out)
            for row, name in THROUGH_LISTS.items():
                ranked = [r.item_id for r in recommend(views, seeds, score=name, limit=k, lists=lists)]
                tallies[row].add(ranked, held_out)
            tallies[BASELINE].add([item for item, _ in popular(views, limit=k, exclude=set(seeds))], held_out)
            if number % 100 == 0:
                say(f"  {number} of {len(queries)} test baskets asked")
        seconds["queries"] = time.monotonic() - started
        catalogue = len({item for basket in train for item in basket.items})
        results = {name: tally.row(catalogue) for name, tally in tallies.items()}
        return Evaluation(k, how, len(train), len(queries), catalogue, results, seconds)


# -- per user: each user's last order, with the user's history -------------------------------------

WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
HALF_LIVES = (None, *sorted(SERVED_HALF_LIVES, reverse=True))


def half_life_name(half_life: float | None) -> str:
    return "none" if half_life is None else f"{half_life:g} d"


@dataclass
class UserEvaluation:
    k: int
    train_orders: int
    test_queries: int
    catalogue: int
    bought_before: float  # share of held-out items the user had bought before
    results: dict[str, dict]
    grid: dict[str, dict]  # "weight w, half-life h" -> row, for the blend
    seconds: dict[str, float]

    def markdown(self) -> str:
        lines = [f"| what ranks the {self.k} suggestions | hit-rate@{self.k} | MRR@{self.k} | coverage |", "|---|---|---|---|"]
        lines += [f"| {name} | {row['hit_rate']:.3f} | {row['mrr']:.3f} | {row['coverage']:.3f} |"
                  for name, row in self.results.items()]
        return "\n".join(lines)

    def grid_markdown(self) -> str:
        """Hit-rate of the blend: one row per weight, one column per half-life."""
        header = " | ".join(f"half-life {half_life_name(h)}" for h in HALF_LIVES)
        lines = [f"| history weight | {header} |", "|---|" + "---|" * len(HALF_LIVES)]
        for weight in WEIGHTS:
            cells = " | ".join(f"{self.grid[grid_key(weight, h)]['hit_rate']:.3f}" for h in HALF_LIVES)
            lines.append(f"| {weight:g} | {cells} |")
        return "\n".join(lines)


def ids(results: list[Recommendation]) -> list[str]:
    return [r.item_id for r in results]


def grid_key(weight: float, half_life: float | None) -> str:
    return f"weight {weight:g}, half-life {half_life_name(half_life)}"


def split_per_user(baskets: list[Basket]) -> tuple[list[Basket], list[Basket]]:
    """Each user's last order (by timestamp) is a test basket when the user ordered before; the rest train."""
    by_user: dict[str, list[int]] = {}
    for index, basket in enumerate(baskets):
        if basket.user_id:
            by_user.setdefault(basket.user_id, []).append(index)
    if not by_user:
        raise ValueError("a per-user split needs orders with a user_id")
    last = {max(indexes, key=lambda i: (baskets[i].timestamp or "", i))
            for indexes in by_user.values() if len(indexes) > 1}
    return [b for i, b in enumerate(baskets) if i not in last], [b for i, b in enumerate(baskets) if i in last]


def evaluate_users(
    couchdb_url: str,
    baskets: list[Basket],
    *,
    k: int = 10,
    seed: int = 7,
    max_test: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> UserEvaluation:
    """Hold one item out of each user's last order; rank with the cart (the rest), the history, and both."""
    train, test = split_per_user(baskets)
    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    blended = f"cart + user (weight {DEFAULT_WEIGHT:g}, half-life {half_life_name(DEFAULT_HALF_LIFE)})"
    rows = {BASELINE: "popular items", "cart": "cart: co-purchases (confidence)",
            "often": "history: most often bought first", "habit": "history: buy again (half-life "
            f"{half_life_name(DEFAULT_HALF_LIFE)})", "blend": blended,
            "no_bought": "cart + user, bought items not recommended"}
    with trained(couchdb_url, train, seconds, say=say, how="per-user") as views:
        tallies = {name: Tally() for name in rows}
        grid = {grid_key(w, h): Tally() for w in WEIGHTS for h in HALF_LIVES}
        queries = [basket for basket in test if len(basket.items) >= 2][:max_test]
        bought_before = 0
        started = time.monotonic()
        for number, basket in enumerate(queries, start=1):
            held_out = rng.choice(basket.items)
            cart = [item for item in basket.items if item != held_out]
            history = read_history(views, basket.user_id)
            bought_before += held_out in history
            tallies[BASELINE].add([item for item, _ in popular(views, limit=k, exclude=set(cart))], held_out)
            tallies["cart"].add(ids(recommend(views, cart, exclude=set(cart), limit=k)), held_out)
            tallies["often"].add(ids(buy_again(views, history, limit=k, half_life=None)), held_out)
            tallies["habit"].add(ids(buy_again(views, history, limit=k)), held_out)
            tallies["blend"].add(ids(cart_for_user(views, cart, history, limit=k, exclude=set(cart))), held_out)
            tallies["no_bought"].add(ids(cart_for_user(views, cart, history, limit=k, exclude=set(cart),
                                                       recommend_bought=False)), held_out)
            pairs = recommend(views, cart, exclude=set(cart), limit=CANDIDATES, backfill=False)
            for weight in WEIGHTS:
                for half_life in HALF_LIVES:
                    ranked = blend(history, pairs, limit=k, exclude=set(cart), weight=weight, half_life=half_life)
                    grid[grid_key(weight, half_life)].add(
                        ids(fill_popular(views, ranked, limit=k, exclude=set(cart))), held_out)
            if number % 100 == 0:
                say(f"  {number} of {len(queries)} users asked")
        seconds["queries"] = time.monotonic() - started
        catalogue = len({item for basket in train for item in basket.items})
        return UserEvaluation(k, len(train), len(queries), catalogue, bought_before / max(1, len(queries)),
                              {rows[name]: tally.row(catalogue) for name, tally in tallies.items()},
                              {name: tally.row(catalogue) for name, tally in grid.items()}, seconds)
