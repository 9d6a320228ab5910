"""View answers cached in-process, so repeated questions cost no database work.

How an answer is revalidated follows the freshness setting:
- `update=true`: answers are exact, so a cached answer is reused only while the
  database's update sequence is unchanged (one cheap `GET /db` per question);
- `update=lazy` or `false`: readers accept a slightly stale index anyway, so a
  cached answer is reused for `max_age` seconds without asking the database.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Callable

from loader.couchdb.couch import Couch


class ViewCache:
    def __init__(self, couch: Couch, *, update: str = "true", max_age: float = 30.0, max_entries: int = 4096,
                 observe: Callable[[bool], None] | None = None):
        self.couch = couch
        self.observe = observe  # called with True for a hit, False for a miss
        self.update = update
        self.max_age = max_age
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self.validator: object = None
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def revalidate(self) -> None:
        """Drop every cached answer the database may have changed since (call once per question)."""
        if self.update != "true":
            return
        seq = self.couch.db_info()["update_seq"]
        with self.lock:
            if seq != self.validator:
                self.entries.clear()
                self.validator = seq

    def query(self, ddoc: str, view: str, **params) -> dict:
        """Query a view through the cache (same options as Couch.query_view, with this cache's `update`)."""
        params.setdefault("update", self.update)
        key = json.dumps([ddoc, view, params], sort_keys=True)
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(key)
            hit = entry is not None and (self.update == "true" or now - entry[0] < self.max_age)
            if hit:
                self.entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            validator = self.validator
        if self.observe is not None:
            self.observe(hit)
        if hit:
            return entry[1]
        answer = self.couch.query_view(ddoc, view, **params)
        with self.lock:
            if validator != self.validator:
                return answer  # the database moved on while we asked: don't file this answer under the new state
            self.entries[key] = (now, answer)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return answer


class RevalidateOnFirstQuery:
    """One request's view reader: the shared cache is revalidated only if a view is asked at all
    (a question answered from the neighbour lists then costs no `GET /db`)."""

    def __init__(self, cache: ViewCache):
        self.cache = cache
        self.checked = False

    def query(self, ddoc: str, view: str, **params) -> dict:
        if not self.checked:
            self.cache.revalidate()
            self.checked = True
        return self.cache.query(ddoc, view, **params)
