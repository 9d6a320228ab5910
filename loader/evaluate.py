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
`neighbours_k` per item, loader/neighbours.py), the path the service takes, so
the cost of keeping only K neighbours shows as a hit-rate difference.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from loader.baskets import Basket
from loader.bulk import chunks
from loader.couch import Couch
from loader.designdocs import compile_for, install_all
from loader.indexing import warm_views
from loader.ingest import PendingLog, write_logs
from loader.neighbours import DEFAULT_K, LIST_SCORES, ListReader, lists_db, rebuild
from loader.recommend import popular, recommend
from loader.schema import MAX_BASKET_ITEMS
from loader.scoring import SCORES
from loader.viewcache import ViewCache

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
    couch = Couch(couchdb_url, f"couchrec_eval_{uuid.uuid4().hex[:10]}", timeout=600)
    seconds = {}
    try:
        started = time.monotonic()
        install_all(couch, compile_for(couch))
        load_train(couch, train)
        warm_views(couch, compile_for(couch), say=say, timeout=7200)
        seconds["load_and_index"] = time.monotonic() - started
        say(f"{len(train)} train orders loaded and indexed in {seconds['load_and_index']:.0f} s ({how} split)")
        started = time.monotonic()
        rebuild(couch, k=neighbours_k)
        seconds["neighbour_lists"] = time.monotonic() - started
        views = ViewCache(couch, update="false", max_age=float("inf"))  # nothing changes while we ask
        lists = ListReader(lists_db(couch))
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
    finally:
        couch.delete_db()
        lists_db(couch).delete_db()
