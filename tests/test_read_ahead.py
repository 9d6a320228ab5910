"""read_ahead and map_ahead: the next items of a stream are produced while the caller works on this one
(a rebuild's next parts computed while this one is written, a view's next page read while this one is
used), in order, with at most a bounded number ahead."""

import threading
import time

import pytest

from loader.couchdb.ahead import map_ahead, read_ahead


def test_every_item_comes_through_in_order():
    assert list(read_ahead(iter(range(1000)))) == list(range(1000))
    assert list(read_ahead([])) == []
    assert list(read_ahead([None, 0, ""])) == [None, 0, ""]  # falsy items are items, not the end


def test_the_next_item_is_produced_while_the_caller_holds_this_one():
    started_second = threading.Event()

    def produce():
        yield "first"
        started_second.set()
        yield "second"

    stream = read_ahead(produce())
    assert next(stream) == "first"
    # the caller has not asked for "second" yet, and the producer is already at it
    assert started_second.wait(timeout=10)
    assert next(stream) == "second"


def test_an_error_comes_out_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("page 3 could not be read")

    seen = []
    with pytest.raises(ValueError, match="page 3"):
        for item in read_ahead(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_at_most_one_item_is_produced_ahead():
    produced = []

    def produce():
        for n in range(100):
            produced.append(n)
            yield n

    stream = read_ahead(produce())
    assert next(stream) == 0
    assert next(stream) == 1
    stream.close()  # waits for the one item in flight, and asks for no more
    assert produced == [0, 1, 2]


def test_map_ahead_keeps_the_order_whatever_finishes_first():
    def slow_for_small(n):
        time.sleep(0.01 * (5 - n % 5))  # later items finish first
        return n * n

    assert list(map_ahead(slow_for_small, range(20), 3)) == [n * n for n in range(20)]


def test_map_ahead_runs_its_threads_at_once_and_no_further_ahead():
    running, most, started = 0, 0, []
    lock = threading.Lock()

    def work(n):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            started.append(n)
        time.sleep(0.05)
        with lock:
            running -= 1
        return n

    results = map_ahead(work, range(50), 3)
    assert next(results) == 0
    time.sleep(0.2)  # the caller holds item 0: items 1 and 2 may be computed, not 3
    assert sorted(started) == [0, 1, 2]
    assert list(results) == list(range(1, 50))
    assert most == 3


def test_map_ahead_raises_where_the_failed_item_would_have_come():
    def work(n):
        if n == 4:
            raise ValueError("part 4 could not be read")
        return n

    seen = []
    with pytest.raises(ValueError, match="part 4"):
        for n in map_ahead(work, range(10), 2):
            seen.append(n)
    assert seen == [0, 1, 2, 3]
