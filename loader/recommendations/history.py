"""What a shopper bought before: buy-again ranking, and its blend with a cart's co-purchases.

One grouped range query on `recommend/user_history` (key [user, item], `_stats` of
the order's day) gives, per item the user bought, how many orders held it
(`count`) and the first and last day it was bought (`min`, `max`); one on
`history/recency` (same key, `_sum` of 2^((day - REFERENCE_DAY) / h) for each
half-life h in HALF_LIVES) gives the decayed counts: two reduced reads, never the
user's orders.

An item's habit score is its purchases, each halved for every `half_life` days
before the user's latest purchase (so a user who comes back after a break is
scored on their own clock): Σ 2^((d - latest) / h) = Σ 2^((d - REF) / h) / 2^((latest - REF) / h).
With no half-life it is the number of orders that held the item. A cart with its owner blends
two lists, each scaled to its best item: weight × habit + (1 − weight) ×
co-purchase score; each result says which part gave it more (`source`).
The defaults are chosen in docs/evaluation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from loader.couchdb.viewcache import ViewCache
from loader.recommendations.ranking import by_count, by_key
from loader.recommendations.recommend import MAX_SEEDS, Recommendation, fill_popular, recommend

DEFAULT_WEIGHT = 0.8        # share of the habit score in a cart's blend (docs/evaluation.md)
DEFAULT_HALF_LIFE = 30.0    # days; None: no decay (docs/evaluation.md)
HALF_LIVES = (4.0, 7.0, 14.0, 30.0, 60.0)  # the columns of history/recency, in its order
REFERENCE_DAY = 19723       # 2024-01-01: the day whose terms are 1 in history/recency
MAX_EXPONENT = 960          # history/recency's cap on an exponent, so its sums stay finite
CANDIDATES = 100            # co-purchase candidates ranked for a blend
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Bought:
    """One item of a user's history."""

    item_id: str
    times: int
    first_day: int  # days since 1970-01-01, UTC
    last_day: int
    recency: tuple[float, ...] = ()  # Σ 2^((day - REFERENCE_DAY) / h) per h in HALF_LIVES; () if not indexed yet

    @property
    def last_bought(self) -> str:
        return (EPOCH + timedelta(days=self.last_day)).isoformat()


@dataclass
class ShopperRecommendation(Recommendation):
    """A recommendation that may also say how often, and when last, the user bought it."""

    times_bought: int | None = None
    last_bought: str | None = None

    def as_dict(self) -> dict:
        answer = super().as_dict()
        if self.times_bought is not None:
            answer.update(times_bought=self.times_bought, last_bought=self.last_bought)
        return answer


def read_history(views: ViewCache, user_id: str) -> dict[str, Bought]:
    """Every item the user bought, with times bought, first/last day and decayed counts (two reduced reads)."""
    span = {"group": True, "startkey": [user_id], "endkey": [user_id, {}]}
    rows = views.query("recommend", "user_history", **span)["rows"]
    recency = {row["key"][1]: tuple(row["value"]) for row in views.query("history", "recency", **span)["rows"]}
    return {row["key"][1]: Bought(row["key"][1], row["value"]["count"], int(row["value"]["min"]),
                                  int(row["value"]["max"]), recency.get(row["key"][1], ())) for row in rows}


def most_bought(history: dict[str, Bought]) -> list[str]:
    """The user's items, most often bought first (ties by id)."""
    return by_key(history, lambda item: history[item].times)


def habit_scores(history: dict[str, Bought], *, half_life: float | None = DEFAULT_HALF_LIFE) -> dict[str, float]:
    """Each purchase of an item counted 2^(-days before the user's latest purchase / half_life); no decay for None.

    An item the recency view has not indexed yet (a cluster's view may lag another) counts its last purchase."""
    if not history or half_life is None:
        return {item: float(bought.times) for item, bought in history.items()}
    if half_life not in HALF_LIVES:
        raise ValueError(f"half_life must be one of {', '.join(f'{h:g}' for h in HALF_LIVES)} days or none, "
                         f"not {half_life:g}")
    column = HALF_LIVES.index(half_life)
    latest = max(bought.last_day for bought in history.values())
    scale = 2.0 ** -min(MAX_EXPONENT, (latest - REFERENCE_DAY) / half_life)
    return {item: bought.recency[column] * scale if bought.recency else 2.0 ** ((bought.last_day - latest) / half_life)
            for item, bought in history.items()}


def from_history(bought: Bought, score: float | None, support: int, because: list[str], source: str
                 ) -> ShopperRecommendation:
    return ShopperRecommendation(bought.item_id, score, support, because, source, bought.times, bought.last_bought)


def buy_again(views: ViewCache, history: dict[str, Bought], *, limit: int, half_life: float | None = DEFAULT_HALF_LIFE,
              exclude: set[str] = frozenset(), **options) -> list[Recommendation]:
    """The user's own items by habit score; past the history, what `new_to_user` gives."""
    habits = habit_scores(history, half_life=half_life)
    ranked = by_count({item: score for item, score in habits.items() if item not in exclude}, limit)
    results: list[Recommendation] = [
        from_history(history[item], habits[item], history[item].times, [], "history") for item in ranked]
    if len(results) < limit:
        results += new_to_user(views, history, limit=limit - len(results), exclude=set(exclude), **options)
    return results


def new_to_user(views: ViewCache, history: dict[str, Bought], *, limit: int, exclude: set[str] = frozenset(),
                **options) -> list[Recommendation]:
    """Co-purchases of the user's most bought items (at most MAX_SEEDS seeds); nothing the user bought."""
    return recommend(views, most_bought(history)[:MAX_SEEDS], exclude=set(exclude) | set(history), limit=limit,
                     **options)


def blend(history: dict[str, Bought], co_purchases: list[Recommendation], *, limit: int,
          exclude: set[str] = frozenset(), weight: float = DEFAULT_WEIGHT,
          half_life: float | None = DEFAULT_HALF_LIFE, habits: dict[str, float] | None = None) -> list[Recommendation]:
    """Blend habit scores with co-purchase scores, each scaled to its best; no excluded item. `habits`: the
    history's habit scores at `half_life` when already computed (a tuner blends one history many ways)."""
    if habits is None:
        habits = habit_scores(history, half_life=half_life)
    habits = {item: score for item, score in habits.items() if item not in exclude}
    paired = {r.item_id: r for r in co_purchases if r.score is not None and r.item_id not in exclude}
    top_habit = max(habits.values(), default=0.0) or 1.0
    top_pair = max((max(r.score, 0.0) for r in paired.values()), default=0.0) or 1.0
    parts = {item: (weight * habits.get(item, 0.0) / top_habit,
                    (1 - weight) * max(paired[item].score, 0.0) / top_pair if item in paired else 0.0)
             for item in habits.keys() | paired.keys()}
    ranked = by_key((item for item in parts if sum(parts[item]) > 0), lambda item: sum(parts[item]), limit)
    results: list[Recommendation] = []
    for item in ranked:
        mine, pair = parts[item]
        because = paired[item].because if item in paired else []
        if item in history:
            source = "history" if mine >= pair else "co_purchase"
            support = history[item].times if source == "history" else paired[item].support
            results.append(from_history(history[item], mine + pair, support, because, source))
        else:
            results.append(Recommendation(item, mine + pair, paired[item].support, because, "co_purchase"))
    return results


def cart_for_user(views: ViewCache, seeds: list[str], history: dict[str, Bought], *, limit: int,
                  exclude: set[str] = frozenset(), recommend_bought: bool = True, weight: float = DEFAULT_WEIGHT,
                  half_life: float | None = DEFAULT_HALF_LIFE, **options) -> list[Recommendation]:
    """A cart's recommendations for its owner: co-purchases blended with the history, or, when bought items may not
    be recommended, co-purchases without them."""
    banned = set(exclude) | (set() if recommend_bought else set(history))
    pairs = recommend(views, seeds, exclude=banned, limit=CANDIDATES if recommend_bought else limit, backfill=False,
                      **options)
    if recommend_bought:
        pairs = blend(history, pairs, limit=limit, exclude=banned, weight=weight, half_life=half_life)
    return fill_popular(views, pairs, limit=limit, exclude=banned, lists=options.get("lists"))
