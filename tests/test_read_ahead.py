"""read_ahead: the next item of a stream is produced while the caller works on this one (a rebuild's
next part computed while this one is written, a feed's next page read while this one is used), in
order, with one item ahead at most."""

import threading
import time

import pytest

from loader.couchdb.ahead import read_ahead


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

