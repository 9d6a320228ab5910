"""Neighbour lists chained after the views: rebuilt, kept fresh by the worker, served, and always
equal to what the exact view path answers once the worker has caught up."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loader.couchdb.couch import Couch
from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import db_exists, is_cluster, pending_changes, read_checkpoint
from loader.derived.follow import Follower, follow
from loader.designdocs.deploy import compile_for
from loader.logs.ingest import PendingLog, write_logs
from loader.recommendations.bestsellers import DEFAULT_P, BestSellers, read_best_sellers
from loader.recommendations.neighbours import (LIST_SCORES, PREFIX, ListReader, NeighbourList, NeighbourLists,
                                               compute_lists, lists_db, rebuild)
from loader.recommendations import pair_counts
from loader.recommendations.orders import order_pairs
from loader.recommendations.purchases import all_purchase_counts
from loader.recommendations.recommend import recommend
from loader.tuning.baskets import Basket
from loader.tuning.evaluate import THROUGH_LISTS, evaluate
from tests.eventually import eventually
from tests.faults import FaultyProxy
from tests.rebuilds import place_at, place_gone
from tests.servers import REPO_DIR, LiveService
from tests.test_recommendations import fixture_logs

ITEMS = [f"p{n}" for n in range(30)]
COUCHREC = str(Path(sys.executable).with_name("couchrec"))


def random_orders(rng: random.Random, count: int, prefix: str) -> list[PendingLog]:
    """Orders of 1 to 6 items over a small catalogue with a popular head, so lists overlap."""
    logs = []
    for number in range(count):
        size = rng.randint(1, 6)
        items = list(dict.fromkeys(rng.choices(ITEMS, weights=[1 / (n + 1) for n in range(len(ITEMS))], k=size)))
        logs.append(PendingLog(f"{prefix}-{number}", {"log_type": "checkout", "order_id": f"{prefix}-{number}",
                                                      "items": items, "timestamp": "2026-10-01T12:00:00.000Z"}))
    return logs


def write(shop: Couch, logs: list[PendingLog]) -> None:
    assert all(outcome.stored for outcome in write_logs(shop, logs))


def all_items(shop: Couch) -> list[str]:
    return [row["key"] for row in shop.query_view("recommend", "item_purchases", group=True)["rows"]]


def stored(shop: Couch) -> dict:
    return {doc["item"]: (doc["n_a"], doc["neighbours"], doc["complete"]) for doc in lists_db(shop).all_docs()
            if doc["_id"].startswith(PREFIX)}


def exact(shop: Couch, k: int) -> dict:
    return {one.item: (one.n_a, [[b, n] for b, n in one.neighbours.items()], one.complete)
            for one in compute_lists(shop, all_items(shop), k=k)}


def assert_lists_exact(shop: Couch, k: int = 100, p: int = DEFAULT_P) -> None:
    """Every stored list, and the best sellers beside them, equal what the views give now."""
    assert db_exists(lists_db(shop))
    assert stored(shop) == exact(shop, k)
    best, expected = read_best_sellers(lists_db(shop)), BestSellers.from_counts(all_purchase_counts(shop.query_view), p)
    assert best is not None and (best.counts, best.complete) == (expected.counts, expected.complete)
    assert list(best.counts) == list(expected.counts)  # stored in rank order


def rebuilt_exactly(shop: Couch, k: int = 100, **options):
    """Rebuild and check every list (retried under eventually(): on a cluster a view read can lag the writes)."""
    done = rebuild(shop, k=k, **options)
    assert_lists_exact(shop, k)
    return done


def follower(shop: Couch, k: int = 100) -> Follower:
    return Follower(NeighbourLists(shop, k), settle=3.0 if is_cluster(shop) else 0.0, wait_ms=0)


def test_lists_answer_as_the_exact_view_path(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs() + random_orders(random.Random(1), 80, "r"))
    done = eventually(lambda: rebuilt_exactly(shop), timeout=60)
    assert done.items == len(all_items(shop)) and read_checkpoint(lists_db(shop)) is not None
    views, lists = ViewCache(shop), ListReader(lists_db(shop))
    questions = [[item] for item in all_items(shop)] + [["A", "C"], ["p0", "p3", "p7"], ["B", "p1", "unknown"]]
    for seeds in questions:
        for score in LIST_SCORES:
            for min_support in (1, 2):
                asked = dict(score=score, limit=8, min_support=min_support)
                assert recommend(views, seeds, lists=lists, **asked) == recommend(views, seeds, **asked), (seeds, asked)


def test_a_rebuild_reading_the_orders_in_many_pages_buckets_and_chunks_is_exact(lists_cleanup, monkeypatch):
    """The rebuild's pass over `_changes` in pages of 7 changes (browsing logs and design docs among them
    on PouchDB Server's unfiltered feed), its pairs counted in buckets of 40 occurrences and chunks of 30
    order items: every list still the views' own, and the reading's progress told up to the whole feed."""
    shop = lists_cleanup
    write(shop, fixture_logs() + random_orders(random.Random(31), 90, "pages"))
    monkeypatch.setattr(pair_counts, "FEED_PAGE", 7)
    monkeypatch.setattr(pair_counts, "PAIR_BUDGET", 40)
    monkeypatch.setattr(pair_counts, "CHUNK_ITEMS", 30)
    told: list[tuple[int, int]] = []
    eventually(lambda: told.clear() or rebuilt_exactly(shop, k=4, reading=lambda done, total: told.append((done, total))),
               timeout=60)
    assert len(told) > 10 and told[-1][0] == told[-1][1] >= 90
    assert [done for done, _ in told] == sorted(done for done, _ in told)


def test_short_lists_are_exact_for_one_seed_and_say_they_are_cut(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(2), 120, "r"))
    eventually(lambda: rebuilt_exactly(shop, k=3), timeout=60)
    assert stored(shop)["p0"][2] is False and len(stored(shop)["p0"][1]) == 3
    views, lists = ViewCache(shop), ListReader(lists_db(shop))
    for item in all_items(shop):
        for score in LIST_SCORES:
            assert recommend(views, [item], lists=lists, score=score, limit=3) == \
                recommend(views, [item], score=score, limit=3)


def test_an_item_without_a_list_is_answered_from_the_views(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    write(shop, [PendingLog("order-new", {"log_type": "checkout", "order_id": "new", "items": ["G", "A"],
                                          "timestamp": "2026-10-09T12:00:00.000Z"})])
    lists = ListReader(lists_db(shop))
    # a fresh cache each try: one kept across tries would hold on to a cluster's first, lagging answer
    answer = eventually(lambda: check_first(recommend(ViewCache(shop), ["G"], lists=lists, score="count"), "A"))
    assert answer.because == ["G"] and answer.support == 1


def check_first(results, item):
    assert results and results[0].item_id == item and results[0].source == "co_purchase"
    return results[0]


def test_the_worker_keeps_lists_exact_after_new_orders_and_reports_its_lag(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    worker = follower(shop)
    worker.catch_up()  # no lists yet: it rebuilds first
    eventually(lambda: assert_lists_exact(shop), timeout=30)
    write(shop, random_orders(random.Random(3), 60, "r"))
    assert eventually(lambda: check_pending(shop), timeout=20) > 0
    worker.catch_up()
    assert worker.changes_seen >= 60
    eventually(lambda: assert_lists_exact(shop), timeout=30)
    eventually(lambda: worker.catch_up() or check_caught_up(shop), timeout=30)  # a cluster's feed may replay a few


def test_short_lists_merged_from_new_orders_stay_the_exact_top_k(lists_cleanup):
    """With K = 3 of 29 possible neighbours, new orders keep pushing items into and out of the lists:
    the worker's merge (stored list + the new orders' pair totals) must give what a recompute gives."""
    shop = lists_cleanup
    write(shop, fixture_logs())
    eventually(lambda: rebuilt_exactly(shop, k=3), timeout=60)
    worker = Follower(NeighbourLists(shop, 3), batch=7, settle=3.0 if is_cluster(shop) else 0.0, wait_ms=0)
    for round_number in range(3):
        write(shop, random_orders(random.Random(10 + round_number), 25, f"m{round_number}"))
        eventually(lambda: worker.catch_up() or assert_lists_exact(shop, k=3), timeout=30)
    assert worker.batches >= 3


class KeyCountingCouch(Couch):
    """The real database, noting how many keys each `co_purchase` query asks for."""

    pair_keys: list[int]

    def query_view(self, ddoc: str, view: str, **params) -> dict:
        if view == "co_purchase" and "keys" in params:
            self.pair_keys.append(len(params["keys"]))
        return super().query_view(ddoc, view, **params)


def test_a_500_item_order_is_paired_as_the_view_pairs_it(lists_cleanup):
    """The view pairs an order's first 50 distinct items: the worker asks for no other pair (at most 1,225 keys)."""
    shop = lists_cleanup
    write(shop, fixture_logs() + random_orders(random.Random(12), 30, "r"))
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    big = ["A", "p3"] + [f"big{n}" for n in range(467)] + ITEMS[::-1] + ["A"]
    write(shop, [PendingLog("order-big", {"log_type": "checkout", "order_id": "big", "items": big,
                                          "timestamp": "2026-10-09T12:00:00.000Z"})])
    counting = KeyCountingCouch(shop.url, shop.db)
    counting.pair_keys = []
    worker = Follower(NeighbourLists(counting), settle=3.0 if is_cluster(shop) else 0.0, wait_ms=0)
    eventually(lambda: worker.catch_up() or assert_lists_exact(shop), timeout=60)
    assert max(counting.pair_keys, default=0) <= 1225
    assert stored(shop)["big0"][0] == 1 and "p29" not in dict(stored(shop)["big0"][1])  # p29 is past the first 50


def check_pending(shop):
    lag = pending_changes(NeighbourLists(shop))
    assert lag is not None and lag["pending_changes"]
    return lag["pending_changes"]


def test_a_rebuild_during_writes_loses_nothing(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(4), 100, "before"))
    writes = random_orders(random.Random(5), 150, "during")
    writer = threading.Thread(target=lambda: [write(shop, writes[n:n + 10]) or time.sleep(0.02)
                                              for n in range(0, len(writes), 10)])
    writer.start()
    rebuild(shop, batch=5)
    writer.join()
    follower(shop).catch_up()
    eventually(lambda: assert_lists_exact(shop), timeout=30)


def start_worker(shop: Couch) -> subprocess.Popen:
    env = {**os.environ, "COUCHDB_URL": shop.url, "COUCHREC_DB": shop.db}
    return subprocess.Popen([COUCHREC, "worker", "--batch", "7"], cwd=REPO_DIR, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_worker_killed_mid_batch_resumes_and_converges(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(6), 40, "first"))
    rng = random.Random(7)
    for burst in range(3):
        worker = start_worker(shop)
        try:
            assert "following" in worker.stderr.readline()
            write(shop, random_orders(rng, 80, f"burst{burst}"))
            time.sleep(rng.uniform(0.1, 1.0))  # somewhere inside its batches of 7 orders
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
    write(shop, random_orders(rng, 30, "unseen"))  # so the last worker has work only a resumed one can do
    worker = start_worker(shop)
    try:
        eventually(lambda: assert_lists_exact(shop), timeout=90, interval=1.0)
        assert eventually(lambda: check_caught_up(shop), timeout=30) == 0
    finally:
        worker.terminate()
        code = worker.wait(timeout=20)
        assert code == 0, worker.stderr.read()


def check_caught_up(shop):
    lag = pending_changes(NeighbourLists(shop))["pending_changes"]
    assert lag == 0
    return lag


def test_hit_rate_through_the_lists_matches_the_exact_path(couchdb_url):
    rng = random.Random(8)
    orders = [Basket(f"o{n}", tuple(log.doc["items"])) for n, log in enumerate(random_orders(rng, 400, "e"))]
    result = evaluate(couchdb_url, orders, k=5, max_test=60, neighbours_k=100)
    for row, name in THROUGH_LISTS.items():
        assert abs(result.results[row]["hit_rate"] - result.results[name]["hit_rate"]) <= 0.005


def test_the_service_serves_lists_and_takes_carts_as_big_as_baskets(couchdb_url, lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    eventually(lambda: rebuilt_exactly(shop), timeout=60)
    live = LiveService(couchdb_url, shop.db)
    try:
        def caught_up():  # a cluster's feed may replay changes from before the rebuild's seq: the worker takes them
            follower(shop).catch_up()
            status = live.get("/status/neighbours").json()
            assert status["lists"] == "present" and status["pending_changes"] == 0
        eventually(caught_up, timeout=60)
        cart = ["A", "C"] + [f"x{n}" for n in range(400)] + ["B", "E"]
        answer = live.request("POST", "/recommendations/cart", params={"score": "count", "limit": 5},
                              json={"items": cart})
        assert answer.status_code == 200
        body = answer.json()
        assert body["seeds"] == cart[:50]
        assert [(r["item_id"], r["because"], r["source"]) for r in body["results"]] == \
            [("D", ["A"], "co_purchase"), ("F", [], "popular")]
        assert not {r["item_id"] for r in body["results"]} & set(cart)
        too_big = live.request("POST", "/recommendations/cart", json={"items": [f"x{n}" for n in range(501)]})
        assert too_big.status_code == 400 and too_big.json()["field"] == "items"
    finally:
        live.stop()


def test_the_rebuild_command_reports_what_it_wrote(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    warm_views(shop, compile_for(shop), say=lambda line: None, timeout=300)
    env = {**os.environ, "COUCHDB_URL": shop.url, "COUCHREC_DB": shop.db, "COUCHREC_NEIGHBOURS_K": "2"}

    def rebuilt_by_the_command():
        done = subprocess.run([COUCHREC, "neighbours", "rebuild", "--quiet"], cwd=REPO_DIR,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"6 neighbour lists written to {shop.db}-neighbours" in done.stdout
        assert_lists_exact(shop, k=2)

    eventually(rebuilt_by_the_command, timeout=60)


class Interrupted(Exception):
    """Stands for a rebuild stopped mid-way (Ctrl-C, a crash)."""


def test_an_interrupted_rebuild_resumes_where_it_stopped(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(21), 80, "r"))
    warm_views(shop, compile_for(shop), say=lambda line: None, timeout=300)

    def stop_after_two_parts(done: int, total: int) -> None:
        if done >= 10:
            raise Interrupted

    with pytest.raises(Interrupted):
        rebuild(shop, batch=5, progress=stop_after_two_parts)
    place = eventually(lambda: place_at(lists_db(shop), 10))
    write(shop, random_orders(random.Random(22), 20, "between"))  # after its start: the worker's to replay
    done = rebuild(shop, batch=5)
    assert done.resumed == 10 and done.items == len(all_items(shop)) - 10
    assert done.checkpoint == place["start_seq"]
    eventually(lambda: place_gone(lists_db(shop)))
    eventually(lambda: follower(shop).catch_up() or assert_lists_exact(shop), timeout=60)


def test_the_worker_rides_out_an_outage(lists_cleanup):
    shop = lists_cleanup
    write(shop, fixture_logs())
    proxy = FaultyProxy(shop.url)
    stopping = threading.Event()
    lines: list[str] = []
    through_proxy = Couch(proxy.url, shop.db, timeout=5)
    returned = []
    worker = threading.Thread(target=lambda: returned.append(follow(NeighbourLists(through_proxy), stop=stopping.is_set,
                                                                    say=lines.append)), daemon=True)
    try:
        worker.start()
        eventually(lambda: assert_lists_exact(shop), timeout=60)
        proxy.set_mode("down")
        write(shop, random_orders(random.Random(10), 40, "outage"))
        eventually(lambda: check_retrying(lines), timeout=30)
        proxy.set_mode("pass")
        eventually(lambda: assert_lists_exact(shop), timeout=90, interval=1.0)
    finally:
        stopping.set()
        proxy.set_mode("pass")
        worker.join(timeout=60)
        proxy.stop()
    assert returned, "the worker died instead of retrying"


def check_retrying(lines: list[str]) -> None:
    assert any("retrying in" in line for line in lines)


def test_a_list_read_from_two_moments_is_recognised():
    """n_ab can never exceed n_a: a list breaking that mixed two shard copies, and is read again."""
    assert NeighbourList("a", 3, 9, {"b": 3, "c": 1}, True).consistent
    assert not NeighbourList("a", 1, 9, {"b": 3, "c": 1}, True).consistent
    assert NeighbourList("new", 0, 9, {}, True).consistent



def counted_only(shop: Couch) -> None:
    if is_cluster(shop):
        pytest.skip("a cluster's worker merges totals read from the views: its lists are not counted")


def test_counted_lists_read_only_the_pair_totals_a_top_k_could_need(lists_cleanup):
    """On a single node the worker adds each batch's own counts to the tallies: with K = 3 and 9 kept, it
    reads fewer pair totals than the batches' distinct pairs, the views ahead of every batch (a backlog
    of 7-order batches), and every list stays the exact top K."""
    shop = lists_cleanup
    counted_only(shop)
    write(shop, fixture_logs() + random_orders(random.Random(30), 80, "base"))
    eventually(lambda: rebuilt_exactly(shop, k=3, keep=9), timeout=60)
    counting = KeyCountingCouch(shop.url, shop.db)
    counting.pair_keys = []
    lists = NeighbourLists(counting, 3, keep=9)  # a short tally: some new neighbours need their totals read
    worker = Follower(lists, batch=7, wait_ms=0)
    distinct = set()
    for round_number in range(3):
        orders = random_orders(random.Random(31 + round_number), 40, f"c{round_number}")
        distinct |= {pair for log in orders for pair in order_pairs(log.doc["items"])}
        write(shop, orders)
        worker.catch_up()
        assert_lists_exact(shop, k=3)
    assert worker.batches >= 15
    assert 0 < sum(counting.pair_keys) < len(distinct)
    docs = [doc for doc in lists_db(shop).all_docs() if doc["_id"].startswith(PREFIX)]
    checkpoint = read_checkpoint(lists_db(shop))
    assert {doc["epoch"] for doc in docs} == {checkpoint["epoch"]} and "batch" not in checkpoint
    assert checkpoint["orders"] == sum(1 for _ in shop.query_view("recommend", "orders", reduce=False)["rows"]
                                       if _["key"] == "orders")
    assert all(len(doc["neighbours"]) + sum(len(level) for _, level in doc["reserve"]) <= 9 or doc["bound"] == 0
               for doc in docs)


class Crash(Exception):
    """Stands for a worker killed at one point of its batch."""


@pytest.mark.parametrize("point", ["after_the_journal", "after_the_lists"])
def test_a_journaled_batch_is_added_once_whatever_a_crash_cut(lists_cleanup, monkeypatch, point):
    """Killed after writing the batch into its checkpoint, or after writing the lists but before the
    checkpoint passed the batch, a worker replays exactly that batch and adds it to each list once."""
    shop = lists_cleanup
    counted_only(shop)
    write(shop, random_orders(random.Random(40), 60, "base"))
    eventually(lambda: rebuilt_exactly(shop, k=4), timeout=60)
    write(shop, random_orders(random.Random(41), 30, "crash"))
    lists = NeighbourLists(shop, 4)
    crashing = Follower(lists, batch=10, wait_ms=0)
    original_write, original_save = lists.write, crashing.save

    def crash_before_writing(docs):
        raise Crash

    def crash_before_passing(seq, **fields):
        raise Crash

    if point == "after_the_journal":
        monkeypatch.setattr(lists, "write", crash_before_writing)
    else:
        monkeypatch.setattr(crashing, "save", crash_before_passing)
    with pytest.raises(Crash):
        crashing.step()
    journal = read_checkpoint(lists_db(shop))["batch"]
    assert len(journal["ids"]) == 10
    if point == "after_the_lists":
        marked = [doc for doc in lists_db(shop).all_docs() if doc.get("batch") == journal["id"]]
        assert marked  # the lists have the batch already
    monkeypatch.setattr(lists, "write", original_write)
    resumed = Follower(NeighbourLists(shop, 4), batch=10, wait_ms=0)
    resumed.catch_up()
    assert resumed.changes_seen >= 30
    assert_lists_exact(shop, k=4)
    assert "batch" not in read_checkpoint(lists_db(shop))
