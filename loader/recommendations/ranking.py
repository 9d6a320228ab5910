"""The one ranking rule: the largest count first, ties by id.

Best sellers, neighbour lists, recommendations, a shopper's history and "also viewed" all rank this way,
and they must break ties alike: a list read from the neighbour lists and one asked of the views answer in
the same order only because both sort here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping


def by_count(counts: Mapping[str, float], limit: int | None = None) -> list[str]:
    """Return the ids of `counts`, largest count first, ties by id; only the first `limit` when given."""
    return by_key(counts, counts.__getitem__, limit)


def by_key(items: Iterable[str], count: Callable[[str], float], limit: int | None = None) -> list[str]:
    """Return `items` ranked by `count(item)`, largest first, ties by id; only the first `limit` when given.

    With a limit the first few are picked with a heap instead of sorting them all (a cart's ~700 candidates
    for a list of 10)."""
    def key(item: str) -> tuple[float, str]:
        return -count(item), item
    return sorted(items, key=key) if limit is None else heapq.nsmallest(limit, items, key=key)
