"""Recommendations from the `recommend` and `products` views.

For seed items (one product, a cart, a user's history): one grouped range query
per seed on `co_purchase` gives n_ab for every co-bought b; one `keys` query on
`item_purchases` gives n_a (and n_b, for the scores that read it); `orders` gives
N. For count and confidence, a seed's stored neighbour list (its top K by n_ab,
loader/recommendations/neighbours.py) stands in for its range query. Per-seed scores are summed
and each result remembers which seeds it came from. When co-purchases give too
few results, popular items fill the list, marked as such, under the same
exclusions.

On a cluster each view query reads one copy of every shard range, so two queries
can see the log at different points: `co_purchase` may already count an order that
`item_purchases` or `orders` does not. Counts only grow, so a count below what the
pairs prove (n_a, n_b >= n_ab; N >= n_a + n_b - n_ab) is raised to that bound
rather than scored as missing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

from loader.couchdb.couch import carry_deadline
from loader.couchdb.viewcache import ViewCache
from loader.recommendations.neighbours import LIST_SCORES, ListReader
from loader.recommendations.orders import PAIRED_ITEMS
from loader.recommendations.purchases import order_count, purchase_counts
from loader.recommendations.ranking import by_count, by_key
from loader.recommendations.scoring import scorer

DEFAULT_SCORE = "confidence"  # chosen in docs/evaluation.md
DEFAULT_MIN_SUPPORT = 1
SCORES_USING_N = ("lift", "llr")  # the others need no order count, so no query for it
SCORES_USING_N_B = ("jaccard", "cosine", "lift", "llr")  # count and confidence need only the seeds' n_a
MAX_SEEDS = PAIRED_ITEMS  # a cart is paired with its candidates as an order's items are
MAX_SESSIONS = 500  # sessions read per "also viewed" question
POPULAR_KINDS = {"purchases": ("purchase", "item_purchases"), "views": ("view", "item_views")}


@dataclass
class Recommendation:
    item_id: str
    score: float | None
    support: int
    because: list[str] = field(default_factory=list)
    source: str = "co_purchase"

    def as_dict(self) -> dict:
        return {"item_id": self.item_id, "score": self.score, "support": self.support, "because": list(self.because),
                "source": self.source}  # by hand: dataclasses.asdict deep-copies, a few ms for a cart's answer


def co_purchases(views: ViewCache, seed: str) -> dict[str, int]:
    """n_ab for every item b bought together with `seed`."""
    rows = views.query("recommend", "co_purchase", group=True, startkey=[seed], endkey=[seed, {}])["rows"]
    return {row["key"][1]: row["value"] for row in rows}


def recommend(
    views: ViewCache,
    seeds: list[str],
    *,
    exclude: set[str] = frozenset(),
    score: str = DEFAULT_SCORE,
    limit: int = 10,
    min_support: int = DEFAULT_MIN_SUPPORT,
    backfill: bool = True,
    lists: ListReader | None = None,
) -> list[Recommendation]:
    """Rank items bought with `seeds`; never return a seed or an excluded item.

    With `lists`, a count or confidence question reads the seeds' stored neighbour lists
    (loader/recommendations/neighbours.py) in one round trip; seeds without a list are asked of the views."""
    seeds = list(dict.fromkeys(seeds))[:MAX_SEEDS]
    banned = set(seeds) | set(exclude)
    stored = lists.read(seeds) if lists is not None and score in LIST_SCORES else {}
    pairs = {seed: stored[seed].neighbours for seed in stored}
    asked = [seed for seed in seeds if seed not in stored]
    if len(asked) > 1:
        with ThreadPoolExecutor(max_workers=min(8, len(asked))) as pool:
            pairs.update(zip(asked, pool.map(carry_deadline(lambda seed: co_purchases(views, seed)), asked)))
    else:
        pairs.update({seed: co_purchases(views, seed) for seed in asked})
    candidates = {b for counts in pairs.values() for b, n_ab in counts.items() if n_ab >= min_support} - banned
    counts = {seed: stored[seed].n_a for seed in stored}
    if candidates:  # n_b only for the scores that read it: never thousands of keys for count or confidence
        counts.update(purchase_counts(views.query, (set(asked) | (candidates if score in SCORES_USING_N_B else set()))
                                      - set(counts)))
    orders = order_count(views.query) if candidates and score in SCORES_USING_N else 0
    score_of, uses_n_b, uses_n = scorer(score), score in SCORES_USING_N_B, score in SCORES_USING_N
    totals: dict[str, float] = {}  # a cart's ~700 pairs pass here: only a running total per candidate
    for seed in seeds:
        n_a = max(counts.get(seed, 0), max(pairs[seed].values(), default=0))
        for item, n_ab in pairs[seed].items():
            if n_ab >= min_support and item in candidates:
                n_b = max(counts.get(item, 0), n_ab) if uses_n_b else n_ab
                n = max(orders, n_a + n_b - n_ab) if uses_n else orders
                totals[item] = totals.get(item, 0.0) + score_of(n_ab, n_a, n_b, n)
    ranked = [explained(item, totals[item], seeds, pairs, min_support)
              for item in by_count(totals, limit)]
    return fill_popular(views, ranked, limit=limit, exclude=banned, lists=lists) if backfill else ranked


def explained(item: str, total: float, seeds: list[str], pairs: dict[str, dict[str, int]],
              min_support: int) -> Recommendation:
    """A ranked item with the seeds that put it there and its support (their n_ab summed)."""
    because = [seed for seed in seeds if pairs[seed].get(item, 0) >= min_support]
    return Recommendation(item, total, sum(pairs[seed][item] for seed in because), because)


def fill_popular(views: ViewCache, ranked: list[Recommendation], *, limit: int, exclude: set[str],
                 lists: ListReader | None = None) -> list[Recommendation]:
    """Top up a short list with best sellers (score null, source popular) under the same exclusions."""
    if len(ranked) >= limit:
        return ranked[:limit]
    taken = exclude | {r.item_id for r in ranked}
    return ranked + [Recommendation(item, None, 0, [], "popular")
                     for item, _ in best_sellers(views, lists, limit=limit - len(ranked), exclude=taken)]


def popular(views: ViewCache, *, kind: str = "purchases", days: int | None = None, limit: int = 10,
            exclude: set[str] = frozenset()) -> list[tuple[str, int]]:
    """The most bought (or viewed) items, over all time or the last `days` days of data."""
    event, all_time_view = POPULAR_KINDS[kind]
    if days is None:
        rows = views.query("recommend" if kind == "purchases" else "products", all_time_view, group=True)["rows"]
        totals = {row["key"]: row["value"] for row in rows}
    else:
        totals = window_totals(views, event, days)
    return [(item, totals[item]) for item in by_count({item: n for item, n in totals.items() if item not in exclude}, limit)]


def best_sellers(views: ViewCache, lists: ListReader | None, *, limit: int, exclude: set[str]
                 ) -> list[tuple[str, int]]:
    """`popular(views, limit=limit, exclude=exclude)`, from the best sellers the worker stores beside the
    neighbour lists when there are some that can tell (loader/recommendations/bestsellers.py), else from the views."""
    stored = lists.best_sellers() if lists is not None else None
    found = stored.top(limit, exclude) if stored is not None else None
    return found if found is not None else popular(views, limit=limit, exclude=exclude)


def window_totals(views: ViewCache, event: str, days: int) -> dict[str, int]:
    """Per-item totals over the last `days` days that have data (the window ends on the newest event's day)."""
    newest = views.query("products", "popular", reduce=False, descending=True, limit=1,
                         startkey=[event, {}], endkey=[event])["rows"]
    if not newest:
        return {}
    last = date(*newest[0]["key"][1:4])
    first = last - timedelta(days=days - 1)
    rows = views.query("products", "popular", group_level=5,
                       startkey=[event, first.year, first.month, first.day],
                       endkey=[event, last.year, last.month, last.day, {}])["rows"]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["key"][4]] = totals.get(row["key"][4], 0) + row["value"]
    return totals


def also_viewed(views: ViewCache, item_id: str, *, limit: int = 10) -> list[Recommendation]:
    """Items viewed in the same sessions as `item_id` (a weaker signal than co-purchase)."""
    rows = views.query("products", "item_sessions", group=True, limit=MAX_SESSIONS,
                       startkey=[item_id], endkey=[item_id, {}])["rows"]
    sessions = [row["key"][1] for row in rows]
    if not sessions:
        return []
    viewed = views.query("products", "session_items", keys=sessions)["rows"]
    together: dict[str, set[str]] = {}
    for row in viewed:
        if row["value"] != item_id:
            together.setdefault(row["value"], set()).add(row["key"])
    ranked = by_key(together, lambda other: len(together[other]), limit)
    return [Recommendation(other, float(len(together[other])), len(together[other]), [item_id], "co_view")
            for other in ranked]
