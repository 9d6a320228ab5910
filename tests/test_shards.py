"""Several workers sharing one database's neighbour lists: each keeps its own items' tallies, lists and best
sellers from a checkpoint of its own, and together they give the lists and best sellers one worker gives."""

import random
import subprocess

import pytest

from loader.bestsellers import BestSellers, merged_shards
from loader.couch import CouchUnavailable
from loader.derived import is_cluster, read_checkpoint
from loader.follow import Follower
from loader.neighbours import NeighbourLists, lists_db
from loader.shards import Shard
from tests.eventually import eventually
from tests.test_neighbours import COUCHREC, CrashingLists, assert_lists_exact, random_orders, write

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
    assert Shard(0, 2).owns("p1") == (Shard.parse("0/2").owns("p1"))  # stable: CRC-32, not Python's salted hash


def test_merged_best_sellers_are_the_exact_top_p_of_every_shard():
    counts = {f"i{n}": 100 - 3 * n for n in range(30)}
    parts = [BestSellers.from_counts({i: c for i, c in counts.items() if shard.owns(i)}, 4) for shard in HALVES]
    merged = merged_shards(parts)
    assert merged.counts == BestSellers.from_counts(counts, 4).counts and not merged.complete


def test_the_worker_command_refuses_a_bad_shard():
    done = subprocess.run([COUCHREC, "worker", "--shard", "2/2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--shard" in done.stderr and "0 to 1 of 2" in done.stderr


def halves(shop, lists=NeighbourLists):
    settle = 3.0 if is_cluster(shop) else 0.0
    return [Follower(lists(shop, 100, p=5, shard=shard), wait_ms=0, settle=settle) for shard in HALVES]


def test_two_workers_keep_the_lists_and_best_sellers_exact_through_a_crash(lists_cleanup):
    shop = lists_cleanup
    write(shop, random_orders(random.Random(30), 60, "base"))
    workers = halves(shop)

    def caught_up():
        for worker in workers:
            worker.catch_up()
        assert_lists_exact(shop, p=5)

    eventually(caught_up, timeout=60)  # each rebuilt its half first
    assert all(read_checkpoint(lists_db(shop), shard.suffix) for shard in HALVES)
    assert read_checkpoint(lists_db(shop)) is None  # no single worker's
    write(shop, random_orders(random.Random(31), 40, "more"))
    eventually(caught_up, timeout=60)
    write(shop, random_orders(random.Random(32), 40, "crash"))
    crashing = halves(shop, CrashingLists)[1]
    with pytest.raises(CouchUnavailable):
        crashing.catch_up()
    workers[0].catch_up()
    write(shop, random_orders(random.Random(33), 30, "after"))
    workers[1] = halves(shop)[1]  # restarted: replays its pinned batch, then the rest
    eventually(caught_up, timeout=60)
