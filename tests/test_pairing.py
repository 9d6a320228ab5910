"""One pairing rule in two languages: loader/recommendations/orders.py's order_items, paired_items and order_pairs
give what designdocs/_lib's twins make the `recommend` maps emit, on the same random documents."""

import random

from loader.designdocs.deploy import compile_all
from loader.designdocs.verify import JsFunctions
from loader.recommendations.orders import PAIRED_ITEMS, order_items, order_pairs

SIZES = (0, 1, 2, 3, 10, PAIRED_ITEMS - 1, PAIRED_ITEMS, PAIRED_ITEMS + 1, 120, 500)


def random_order(rng: random.Random) -> dict:
    """An order-shaped document: ids and {item_id} lines, repeats, junk lines, sometimes not an order at all."""
    size = rng.choice(SIZES)

    def line():
        item = f"i{rng.randint(0, size + 5)}"
        return rng.choice([item, item, {"item_id": item, "quantity": 2}, None, 7, {"sku": item}, ["x"]])

    items = rng.choice([[line() for _ in range(size)]] * 8 + ["i1i2", {"item_id": "i1"}])
    return {"log_type": rng.choice(["checkout"] * 6 + ["purchase", "page_view"]), "items": items,
            "item_id": rng.choice([f"i{rng.randint(0, 9)}", None, 3])}


def test_python_reads_and_pairs_orders_as_the_views_do():
    views = compile_all(target="couchdb")["_design/recommend"]["views"]
    item_purchases, co_purchase = (JsFunctions(map_source=views[name]["map"]) for name in ("item_purchases", "co_purchase"))
    rng = random.Random(19)
    for _ in range(300):
        doc = random_order(rng)
        items = order_items(doc)
        assert [key for key, _ in item_purchases.map(doc)] == items, doc
        emitted = sorted(tuple(key) for key, _ in co_purchase.map(doc))
        assert emitted == sorted(pair for a, b in order_pairs(items) for pair in ((a, b), (b, a))), doc


def test_a_500_item_order_pairs_its_first_50_distinct_items_only():
    items = [f"i{n}" for n in range(500)]
    pairs = order_pairs(items + items)
    assert len(pairs) == len(set(pairs)) == PAIRED_ITEMS * (PAIRED_ITEMS - 1) // 2 == 1225
    assert {item for pair in pairs for item in pair} == set(items[:PAIRED_ITEMS])
    assert all(a < b for a, b in pairs)
