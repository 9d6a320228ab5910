"""Retry a check until it holds: a CouchDB cluster may miss a just-acknowledged write for a moment.

A 3-node cluster acknowledges a write at quorum and a read takes each shard range from
whichever copy answers first, so a read right after a write can lag by a second or more.
Tests that read what they just wrote call `eventually(check)` instead of asserting once.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.2) -> T:
    """Call `check` until it stops raising AssertionError; return its value, or re-raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
