"""Wait for view indexes to be built without ever holding one request open for long.

CouchDB answers a view query that waits on an index build for more than its request
timeout (60 s by default) with 500 `{"error": "timeout"}`, while the build goes on. So
waiting is a loop of short probes: each asks for a key that is not there (cheap on
CouchDB and PouchDB Server alike, once the index is current), gives up after `poll`
seconds, reports the indexer's progress from `_active_tasks`, and asks again. Only the
caller's overall `timeout` ends the wait.
"""

from __future__ import annotations

import time
from typing import Callable

from loader.couchdb.couch import Couch, CouchError, CouchUnavailable
from loader.couchdb.serverconfig import couchjs_failure

PROBE_KEY = "\ufff0 no such key"  # sorts after every key we emit, so the answer is empty
POLL_SECONDS = 15.0


class BuildTimeout(TimeoutError):
    """An index was still building when the caller's time ran out."""


class BuildFailed(RuntimeError):
    """An index build failed in a way that waiting will not mend (couchjs out of memory)."""


def still_building(exc: Exception) -> bool:
    """Did a view query give up while its index was (probably) still building?"""
    if isinstance(exc, CouchUnavailable):
        return True  # our own client-side timeout, or the server restarting
    return isinstance(exc, CouchError) and exc.status == 500 and exc.error == "timeout"


def wait_until_built(couch: Couch, ddoc_name: str, views: dict[str, dict], *, say: Callable[[str], None],
                     timeout: float, poll: float = POLL_SECONDS) -> None:
    """Probe each view until it answers within `poll` seconds, reporting progress at most every `poll`
    seconds; raise BuildTimeout after `timeout`, BuildFailed when couchjs dies (loader/couchdb/serverconfig.py)."""
    started = time.monotonic()
    reported = None
    for view, functions in views.items():
        reduce = False if "reduce" in functions else None
        while True:
            try:
                couch.query_view(ddoc_name, view, key=PROBE_KEY, reduce=reduce, timeout=poll)
                break
            except (CouchError, CouchUnavailable) as exc:
                failure = couchjs_failure(exc, ddoc_name)
                if failure:
                    raise BuildFailed(failure) from exc
                if not still_building(exc):
                    raise
                waited = time.monotonic() - started
                if waited > timeout:
                    raise BuildTimeout(f"_design/{ddoc_name} was still building after {waited:.0f} s "
                                       f"({describe_progress(couch, ddoc_name)}); the build goes on in "
                                       "CouchDB: run the command again later") from exc
                if reported is None or time.monotonic() - reported >= poll:
                    reported = time.monotonic()
                    say(f"  _design/{ddoc_name} still building after {waited:.0f} s: "
                        f"{describe_progress(couch, ddoc_name)}")


def indexer_tasks(couch: Couch, ddoc_name: str) -> list[dict]:
    """The `_active_tasks` indexing this design doc of this database (one a shard on CouchDB)."""
    return [task for task in couch.active_tasks()
            if task.get("type") == "indexer" and task.get("design_document") == f"_design/{ddoc_name}"
            and is_of_database(task.get("database", ""), couch.db)]


def describe_progress(couch: Couch, ddoc_name: str) -> str:
    """The indexer's progress on this design doc, summed over shards, as `_active_tasks` reports it."""
    try:
        tasks = indexer_tasks(couch, ddoc_name)
    except (CouchError, CouchUnavailable) as exc:
        return f"progress unknown ({exc})"
    if not tasks:  # CouchDB drops the task once every change is read; queued rows may still be written
        return "no indexer task running (every change read and the last rows being written, or not started yet)"
    done = sum(task.get("changes_done", 0) for task in tasks)
    total = sum(task.get("total_changes", 0) for task in tasks)
    share = f" ({100 * done / total:.0f} %)" if total else ""
    return f"{done:,} of {total:,} changes indexed{share} by {len(tasks)} indexer task(s){pace(tasks, done, total)}"


def is_of_database(task_database: str, db: str) -> bool:
    """Is a task's database (a shard's path on CouchDB, `shards/00000000-7fffffff/shop.1700000000`) this one?"""
    return task_database.split("/")[-1].rsplit(".", 1)[0] == db or task_database == db


def pace(tasks: list[dict], done: int, total: int) -> str:
    """The tasks' rate since they started and the time left at that rate (CouchDB reports `started_on`
    and `updated_on` in seconds; a build that resumed after a restart counts from its restart).
    `changes_done` counts documents mapped: their rows are written after, minutes later at a million
    orders, so a task at its total is still writing, not done."""
    if total and done >= total:
        return ", every change mapped, its rows still being written"
    started = min((task["started_on"] for task in tasks if "started_on" in task), default=None)
    updated = max((task["updated_on"] for task in tasks if "updated_on" in task), default=None)
    if started is None or updated is None or updated <= started or not done:
        return ""
    rate = done / (updated - started)
    left = (total - done) / rate
    return f", {rate:,.0f} changes/s, about {left / 60:,.0f} min left" if left >= 60 else \
        f", {rate:,.0f} changes/s, about {left:,.0f} s left"


def warm_views(couch: Couch, ddocs: dict[str, dict], *, say: Callable[[str], None], timeout: float) -> list[str]:
    """Bring the indexes of every installed design doc up to date; return the ones warmed.

    A bulk load ends with this, so the first reader does not pay for indexing it.
    """
    warmed = []
    for ddoc_id, ddoc in ddocs.items():
        if "views" in ddoc and couch.get_doc(ddoc_id) is not None:
            wait_until_built(couch, ddoc_id[len("_design/"):], ddoc["views"], say=say, timeout=timeout)
            warmed.append(ddoc_id)
    return warmed
