"""An order as the `recommend` views read it: its distinct items, and the pairs `co_purchase` counts.

The Python twins of designdocs/_lib/order_items.js and paired_items.js (tests/test_pairing.py runs
both on the same random documents); every Python place that reads an order's items or pairs them
goes through these.
"""

from __future__ import annotations

ORDER_TYPES = ("checkout", "purchase")
ORDER_SELECTOR = {"log_type": {"$in": list(ORDER_TYPES)}}
PAIRED_ITEMS = 50  # designdocs/_lib/paired_items.js


def order_items(doc: dict | None) -> list[str]:
    """The distinct item ids of an order document, in basket order (as designdocs/_lib/order_items.js reads them)."""
    if not doc or doc.get("log_type") not in ORDER_TYPES:
        return []
    if doc["log_type"] == "purchase":
        lines = [doc.get("item_id")]
    else:
        lines = doc.get("items") if isinstance(doc.get("items"), list) else []
    ids = [line.get("item_id") if isinstance(line, dict) else line for line in lines]
    return list(dict.fromkeys(item for item in ids if isinstance(item, str)))


def paired_items(items: list[str]) -> list[str]:
    """The items of an order that enter co-purchase pairs: the first PAIRED_ITEMS distinct ones (as
    designdocs/_lib/paired_items.js picks them for the `co_purchase` view)."""
    return items[:PAIRED_ITEMS]


def order_pairs(items: list[str]) -> list[tuple[str, str]]:
    """The unordered pairs `co_purchase` counts for an order of these distinct items, each as (a, b) with a < b
    (the view emits [a, b] and [b, a] alike, so one serves both lists)."""
    paired = paired_items(items)
    return [(a, b) if a < b else (b, a) for n, a in enumerate(paired) for b in paired[n + 1:]]
