"""Work done ahead of the code that uses it, in threads, in order and bounded: a view's next page read
while this one is used, a rebuild's next parts computed while this one is written."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

from loader.couchdb.couch import carry_deadline


def read_ahead(iterable: Iterable) -> Iterator:
    """Yield what `iterable` yields, producing the next item in a thread while the caller works on this
    one: a stream's next page is read while this page is used, a rebuild's next part is computed while
    this one is written. One item ahead, so memory stays bounded; an exception comes out where the
    item it stopped would have."""
    iterator = iter(iterable)
    end = object()
    produce = carry_deadline(next)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(produce, iterator, end)
        while (item := upcoming.result()) is not end:
            upcoming = pool.submit(produce, iterator, end)
            yield item


def map_ahead(fn: Callable, iterable: Iterable, threads: int) -> Iterator:
    """fn of each item, in order, computed in `threads` threads: while the caller uses one result, the next
    threads - 1 are being computed, and no more, so memory stays bounded however slow the caller is."""
    work = carry_deadline(fn)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        window: deque = deque()
        for item in iterable:
            window.append(pool.submit(work, item))
            if len(window) == threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
