"""Several workers sharing one database's neighbour lists: each keeps its own items' lists and best sellers
from a checkpoint of its own, and together they give the lists and best sellers one worker gives."""

import os
import random
import signal
import subprocess
import time

import pytest

from loader.couchdb.couch import Couch
from loader.derived.derived import is_cluster, pending_changes, read_checkpoint, workers_checkpoints
from loader.derived.follow import Follower
from loader.derived.shards import Shard
from loader.recommendations.bestsellers import BestSellers, merged_shards
from loader.recommendations.neighbours import NeighbourLists, lists_db
from tests.eventually import eventually
from tests.servers import REPO_DIR
from tests.test_neighbours import COUCHREC, assert_lists_exact, random_orders, write

HALVES = [Shard(0, 2), Shard(1, 2)]


def test_a_shard_is_parsed_or_refused_with_the_reason():
    assert Shard.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3" and Shard(1, 3).suffix == "-1of3"
    for bad, reason in (("3/3", "0 to 2 of 3"), ("0/0", "of 0"), ("x", "not i/W"), ("1", "not i/W"), ("-1/2", "not i/W")):
        with pytest.raises(ValueError, match=reason):
            Shard.parse(bad)


def test_every_item_has_one_owner_and_keeps_it():
    items = [f"item-{n}" for n in range(500)]
    owners = [[shard.index for shard in HALVES if shard.owns(item)] for item in items]
    assert all(len(owner) == 1 for owner in owners)
    assert 200 < sum(owner == [0] for owner in owners) < 300  # the hash spreads them
    assert Shard(0, 2).owns("p1") == Shard.parse("0/2").owns("p1")  # stable: CRC-32, not Python's salted hash


def test_merged_best_sellers_are_the_exact_top_p_of_every_shard():
    counts = {f"i{n}": 100 - 3 * n for n in range(30)}
    parts = [BestSellers.from_counts({i: c for i, c in counts.items() if shard.owns(i)}, 4) for shard in HALVES]
    merged = merged_shards(parts)
    assert merged.counts == BestSellers.from_counts(counts, 4).counts and not merged.complete


def test_the_worker_command_refuses_a_bad_shard():
    done = subprocess.run([COUCHREC, "worker", "--shard", "2/2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--shard" in done.stderr and "0 to 1 of 2" in done.stderr


def halves(shop: Couch, k: int = 100) -> list[Follower]:
    settle = 3.0 if is_cluster(shop) else 0.0
    return [Follower(NeighbourLists(shop, k, p=5, shard=shard), wait_ms=0, settle=settle) for shard in HALVES]


def test_two_workers_keep_the_lists_and_best_sellers_exact(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(30), 60, "base"))
    workers = halves(shop, k=4)  # short lists, so merges cut them to the top K

    def caught_up():
        for worker in workers:
            worker.catch_up()
        assert_lists_exact(shop, k=4, p=5)

    eventually(caught_up, timeout=60)  # each rebuilt its half first
    assert all(read_checkpoint(lists_db(shop), shard.suffix) for shard in HALVES)
    assert read_checkpoint(lists_db(shop)) is None  # no single worker's
    for burst in range(3):
        write(shop, random_orders(random.Random(31 + burst), 40, f"more{burst}"))
        workers[burst % 2].catch_up()  # one half ahead of the other for a while
        eventually(caught_up, timeout=60)
    assert pending_changes(NeighbourLists(shop))["pending_changes"] == 0


def start_worker(shop: Couch, shard: Shard) -> subprocess.Popen:
    env = {**os.environ, "COUCHDB_URL": shop.url, "COUCHREC_DB": shop.db}
    return subprocess.Popen([COUCHREC, "worker", "--batch", "7", "--only", "neighbours", "--shard", str(shard)],
                            cwd=REPO_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_two_worker_processes_killed_mid_batch_resume_and_converge(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(40), 40, "first"))
    rng = random.Random(41)
    for burst in range(2):
        workers = [start_worker(shop, shard) for shard in HALVES]
        try:
            for worker in workers:
                assert "following" in worker.stderr.readline()
            write(shop, random_orders(rng, 80, f"burst{burst}"))
            time.sleep(rng.uniform(0.1, 1.0))  # somewhere inside their batches of 7 orders
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
    write(shop, random_orders(rng, 30, "unseen"))
    workers = [start_worker(shop, shard) for shard in HALVES]
    try:
        eventually(lambda: assert_lists_exact(shop), timeout=90, interval=1.0)
        lag = eventually(lambda: check_caught_up(shop), timeout=30)
        assert lag == 0 and len(workers_checkpoints(lists_db(shop))) in (1, 2)  # PouchDB Server lists no _local docs
    finally:
        for worker in workers:
            worker.terminate()
            assert worker.wait(timeout=20) == 0, worker.stderr.read()


def check_caught_up(shop: Couch) -> int:
    lag = pending_changes(NeighbourLists(shop))
    assert lag is not None and lag["pending_changes"] == 0
    return lag["pending_changes"]
