"""Purchase counts from the `recommend` views: n_a per item (`item_purchases`) and the order count N
(`orders`). Shared by the recommender, which reads through its view cache, and the neighbour lists'
worker, which reads the database directly: each passes its view query function (`ViewCache.query`
or `Couch.query_view`, which take the same options)."""

from __future__ import annotations

from typing import Callable, Iterable

ViewQuery = Callable[..., dict]


def purchase_counts(query: ViewQuery, items: Iterable[str]) -> dict[str, int]:
    """How many orders hold each of `items` (items never bought are left out)."""
    keys = sorted(set(items))
    if not keys:
        return {}
    rows = query("recommend", "item_purchases", group=True, keys=keys)["rows"]
    return {row["key"]: row["value"] for row in rows if row.get("value")}


def all_purchase_counts(query: ViewQuery) -> dict[str, int]:
    """How many orders hold each item ever bought: the whole grouped view, one row per product."""
    return {row["key"]: row["value"] for row in query("recommend", "item_purchases", group=True)["rows"]}


def order_count(query: ViewQuery) -> int:
    rows = query("recommend", "orders", group=True, key="orders")["rows"]
    return rows[0]["value"] if rows else 0
