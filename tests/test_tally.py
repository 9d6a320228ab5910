"""Tallies brought forward by batches of orders keep the exact top K of every item, read only the totals they
need, and keep their bound true, with every tally known (one worker) or only some (a worker of several)."""

from collections import Counter

from hypothesis import given, settings, strategies as st

from loader.recommendations.neighbour_list import NeighbourList
from loader.recommendations.orders import order_pairs
from loader.recommendations.ranking import by_count
from loader.recommendations.tally import BatchCounts, Tally, advance, cut

# a few popular items and a long tail, so lists fill past k and ties at the cut are common
ITEMS = st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([f"t{n:02}" for n in range(40)]))
ORDERS = st.lists(st.lists(ITEMS, min_size=1, max_size=12).map(lambda order: list(dict.fromkeys(order))),
                  max_size=60)


def true_counts(orders: list[list[str]]) -> tuple[Counter, dict[str, Counter]]:
    n_a, pairs = Counter(), {}
    for order in orders:
        n_a.update(order)
        for a, b in order_pairs(order):
            pairs.setdefault(a, Counter())[b] += 1
            pairs.setdefault(b, Counter())[a] += 1
    return n_a, pairs


def ranked(counts: Counter) -> list[tuple[str, int]]:
    return [(b, counts[b]) for b in by_count(counts)]


def tallies_of(orders: list[list[str]], k: int, keep: int) -> dict[str, Tally]:
    n_a, pairs = true_counts(orders)
    made = {}
    for item in n_a:
        made[item] = cut(ranked(pairs.get(item, Counter())), k, keep)
        made[item].n_a = n_a[item]
    return made


@settings(max_examples=150, deadline=None)
@given(base=ORDERS, batches=st.lists(ORDERS, min_size=1, max_size=4), k=st.integers(1, 5), extra=st.integers(0, 6),
       known=st.sampled_from(["all", "half"]))
def test_batches_keep_the_exact_top_k_and_a_true_bound(base, batches, k, extra, known):
    keep = k + extra
    tallies = tallies_of(base, k, keep)
    seen = list(base)
    owned = (lambda item: True) if known == "all" else (lambda item: hash(item) % 2 == 0 or item in "ab")
    for orders in batches:
        seen += orders
        n_a, pairs = true_counts(seen)
        asked_for = []

        def read(asked):
            asked_for.extend(asked)
            return {(a, b): pairs[a][b] for a, b in asked}

        batch = BatchCounts.of(orders)
        old = {item: tallies.get(item) for item in batch.n if owned(item)}
        fresh, read_count = advance(old, batch, read, k=k, keep=keep)
        assert read_count == len(asked_for) == len(set(asked_for))
        for item, tally in fresh.items():
            truth = pairs.get(item, Counter())
            assert tally.n_a == n_a[item]
            assert all(truth[b] == n for b, n in tally.kept.items())  # kept counts are exact
            assert all(n <= tally.bound for b, n in truth.items() if b not in tally.kept)  # the bound holds
            shown = by_count(tally.kept, k)
            assert [(b, truth[b]) for b in shown] == ranked(truth)[:k]
            assert len(tally.kept) <= max(keep, k, sum(1 for n in truth.values() if n >= tally.kth(k))) or \
                tally.bound == 0
        tallies.update(fresh)


@settings(max_examples=60, deadline=None)
@given(base=ORDERS, orders=ORDERS, k=st.integers(1, 5))
def test_a_tally_a_batch_was_added_to_is_taken_back_to_before_it(base, orders, k):
    before = tallies_of(base, k, k + 3)
    after = tallies_of(base + orders, k, 10_000)  # everything kept: the counts to take back
    batch = BatchCounts.of(orders)
    for item in batch.n:
        undone = batch.before(after[item], item)
        if item in before:
            assert undone.n_a == before[item].n_a
            assert all(n == before[item].kept[b] for b, n in undone.kept.items() if b in before[item].kept)
        else:
            assert undone.n_a == 0 and not any(undone.kept.values())


def test_a_cut_keeps_every_tie_of_the_kth_count_and_cuts_between_counts():
    tally = cut([("a", 5), ("b", 3), ("c", 3), ("d", 3), ("e", 2), ("f", 2), ("g", 1)], 2, 3)
    assert tally.kept == {"a": 5, "b": 3, "c": 3, "d": 3} and tally.bound == 2
    tally = cut([("a", 5), ("b", 4), ("c", 2), ("d", 2), ("e", 2), ("f", 1)], 2, 3)
    assert tally.kept == {"a": 5, "b": 4} and tally.bound == 2
    assert cut([("a", 1), ("b", 1)], 1, 1).bound == 0  # every tie kept: nothing left out


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 5), max_size=30), st.integers(1, 10))
def test_a_stored_tally_reads_back_as_written(kept, k):
    """A list document holds its reserve by count level; it reads back to the same tally, and so does a reserve
    an earlier couchrec stored as one [b, n_ab] pair a neighbour."""
    one = NeighbourList.from_tally("x", cut(ranked(Counter(kept)), k, 3 * k), 50, k, epoch="e")
    assert NeighbourList.from_doc(one.as_doc()).tally == one.tally
    earlier = {**one.as_doc(), "reserve": [[b, n_ab] for b, n_ab in one.reserve.items()]}
    assert NeighbourList.from_doc(earlier).tally == one.tally
