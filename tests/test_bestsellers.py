"""Best sellers kept beside the neighbour lists: exact after every batch, and what a short list is topped up with,
without reading the whole popularity view."""

import random

from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import is_cluster
from loader.derived.follow import Follower
from loader.logs.ingest import PendingLog
from loader.recommendations.bestsellers import BEST_SELLERS_ID, BestSellers, read_best_sellers
from loader.recommendations.neighbours import ListReader, NeighbourLists, lists_db
from loader.recommendations.recommend import popular, recommend
from tests.eventually import eventually
from tests.test_neighbours import assert_lists_exact, random_orders, rebuilt_exactly, write
from tests.test_recommendations import fixture_logs


def test_the_top_p_is_ranked_by_count_then_id_and_says_when_it_cannot_tell():
    best = BestSellers.from_counts({"a": 5, "b": 7, "c": 5, "d": 1}, p=3)
    assert list(best.counts) == ["b", "a", "c"] and not best.complete
    assert best.top(2, {"b"}) == [("a", 5), ("c", 5)]
    assert best.top(3, {"b"}) is None  # "d" might be the third: past the stored three
    whole = BestSellers.from_counts({"a": 5, "b": 7}, p=3)
    assert whole.complete and whole.top(3, {"b"}) == [("a", 5)]  # nothing else was ever bought


def test_merging_keeps_the_larger_count_and_cuts_back_to_p():
    best = BestSellers.from_counts({"a": 5, "b": 7, "c": 4}, p=3).merged({"d": 6, "c": 2}, p=3)
    assert best.counts == {"b": 7, "d": 6, "a": 5}  # c's 2 is a lagging copy's: it loses to the stored 4
    assert not best.complete


def test_the_worker_keeps_the_exact_top_p_as_items_rise_into_it(lists_cleanup):
    """P = 3 of 30 items; each round, three items from further down the catalogue are bought often
    enough to pass the stored top three (base counts: p0 39, p1 23, p2 18, the rest at most 9)."""
    shop = lists_cleanup
    write(shop, random_orders(random.Random(20), 60, "base"))
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    worker = Follower(NeighbourLists(shop, 100, p=3), batch=7, settle=3.0 if is_cluster(shop) else 0.0, wait_ms=0)
    for round_number, (first, orders) in enumerate([(10, 20), (15, 30), (20, 45)]):
        rising = [f"p{n}" for n in range(first, first + 3)]
        write(shop, [PendingLog(f"rise{round_number}-{n}", {"log_type": "checkout", "order_id": f"r{round_number}-{n}",
                                                            "items": rising, "timestamp": "2026-10-02T12:00:00.000Z"})
                     for n in range(orders)])
        eventually(lambda: worker.catch_up() or assert_lists_exact(shop, p=3), timeout=30)
        assert rising[0] in read_best_sellers(lists_db(shop)).counts


def test_a_short_list_is_topped_up_from_the_stored_best_sellers_without_a_view_read(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    lists = ListReader(lists_db(shop))
    views = ViewCache(shop)
    answer = recommend(views, ["A"], lists=lists, score="count", limit=8)
    assert answer[-1].source == "popular"  # A is bought with fewer than 8 items: topped up
    assert (views.hits, views.misses) == (0, 0)  # no view asked: not even the popularity one
    assert answer == recommend(ViewCache(shop), ["A"], score="count", limit=8)  # as the views answer it


def test_best_sellers_that_cannot_tell_hand_the_top_up_to_the_views(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    target = lists_db(shop)
    stored = read_best_sellers(target)
    cut = BestSellers.from_counts(stored.counts, p=1)
    target.put_doc(BEST_SELLERS_ID, BestSellers(cut.counts, False, stored.rev).as_doc())
    views = ViewCache(shop)
    answer = recommend(views, ["A"], lists=ListReader(target), score="count", limit=8)
    assert views.misses >= 1  # one stored best seller can't fill the list: the views did
    top_up = [r.item_id for r in answer if r.source == "popular"]
    assert top_up == [item for item, _ in popular(ViewCache(shop), limit=len(top_up),
                                                  exclude={"A"} | {r.item_id for r in answer if r.source != "popular"})]
