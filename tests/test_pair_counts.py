"""OrderCounts: the lists made from the orders are the exact top K of every item's pairs, whatever the
buckets and chunks they are counted in, with the views' rules for what an order pairs."""

from collections import Counter
from contextlib import contextmanager
from itertools import permutations

from hypothesis import given, settings, strategies as st

from loader.recommendations import pair_counts
from loader.recommendations.orders import order_items, paired_items
from loader.recommendations.pair_counts import OrderCounts
from loader.recommendations.ranking import by_count

ITEMS = st.sampled_from([f"i{n}" for n in range(30)] + ["_under", "Zed", "zed", "ä", "i1 "])
ORDER = st.one_of(
    st.builds(lambda items: {"log_type": "checkout", "items": items}, st.lists(ITEMS, max_size=60)),
    st.builds(lambda item: {"log_type": "purchase", "item_id": item}, ITEMS),
    st.builds(lambda items: {"log_type": "checkout", "items": [{"item_id": item, "qty": 2} for item in items]},
              st.lists(ITEMS, max_size=8)),
    st.just({"log_type": "page_view", "page_type": "home"}),
)


@contextmanager
def buckets_and_chunks(budget: int, chunk: int):
    """Buckets of at most `budget` pair occurrences and chunks of `chunk` order items, for the duration."""
    saved = pair_counts.PAIR_BUDGET, pair_counts.CHUNK_ITEMS
    pair_counts.PAIR_BUDGET, pair_counts.CHUNK_ITEMS = budget, chunk
    try:
        yield
    finally:
        pair_counts.PAIR_BUDGET, pair_counts.CHUNK_ITEMS = saved


def made_lists(docs: list[dict], items: list[str] | None, k: int, keep: int = 0) -> tuple[OrderCounts, list]:
    counts = OrderCounts()
    for doc in docs:
        counts.add(doc)
    counts.seal()
    try:
        return counts, list(counts.lists(sorted(counts.n_a) if items is None else items, k, keep))
    finally:
        counts.close()


def exact_pairs(docs: list[dict]) -> dict[str, Counter]:
    """Every ordered pair the `co_purchase` view emits for these documents, counted."""
    pairs: dict[str, Counter] = {}
    for doc in docs:
        for a, b in permutations(paired_items(order_items(doc)), 2):
            pairs.setdefault(a, Counter())[b] += 1
    return pairs


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(ORDER, max_size=120), k=st.integers(1, 8), extra=st.integers(0, 5), budget=st.integers(1, 400),
       chunk=st.integers(1, 200))
def test_lists_are_the_exact_top_k_in_any_buckets_and_chunks(docs, k, extra, budget, chunk):
    with buckets_and_chunks(budget, chunk):
        counts, made = made_lists(docs, None, k, k + extra)
    pairs = exact_pairs(docs)
    assert [item for item, _ in made] == sorted(counts.n_a)
    assert counts.orders == sum(1 for doc in docs if order_items(doc))
    assert counts.n_a == Counter(item for doc in docs for item in order_items(doc))
    for item, tally in made:
        every = pairs.get(item, Counter())
        assert tally.n_a == counts.n_a[item]
        assert by_count(tally.kept, k) == by_count(every, k)
        assert tally.kept == {b: every[b] for b in tally.kept}
        assert list(tally.kept) == by_count(tally.kept)  # ranked
        assert all(n <= tally.bound for b, n in every.items() if b not in tally.kept)
        assert (tally.bound == 0) == (len(tally.kept) == len(every))


def test_a_part_of_the_items_gets_only_its_own_lists():
    orders = [{"log_type": "checkout", "items": items} for items in (["a", "b", "c"], ["b", "c"], ["c", "d"], ["a", "d"])]
    with buckets_and_chunks(5, 3):
        _, made = made_lists(orders, ["b", "d"], 1, 1)
    assert [(item, tally.kept, tally.bound) for item, tally in made] == [("b", {"c": 2}, 1), ("d", {"a": 1, "c": 1}, 0)]
