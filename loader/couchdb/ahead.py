"""Work done ahead of the code that uses it, in a thread, in order and bounded: a feed's next page read
while this one is used, a rebuild's next part computed while this one is written."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

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

