"""CouchDB settings that decide how fast (and whether) couchrec's indexes build, checked on the server.

Two were measured to matter (docs/decisions.md, "A production configuration that builds fast"):
- `[view_updater] queue_memory_cap`: CouchDB 3.5.0 and 3.5.1 default to 100,000 bytes, 3.5.2 and later
  to 10,485,760. With the small queue, `_design/recommend` over 14,590 real grocery orders built in
  162 s (index file 250 MB); with the large one in 59-89 s (69-84 MB).
- couchjs's memory: 64 MiB by default (`-S`), which the maps exhaust on a large shop ("out of memory",
  `os_process_error`); the build then fails every time. It is set by the environment variable
  COUCHDB_QUERY_SERVER_JAVASCRIPT when CouchDB starts, so the server cannot be asked for it: a failed
  build is turned into a message that names the fix instead.
"""

from __future__ import annotations

from loader.couchdb.couch import Couch, CouchError

QUEUE_SETTING = "[view_updater] queue_memory_cap"
QUEUE_FAST = 10_485_760
QUEUE_DEFAULT_BEFORE_352 = 100_000
COUCHJS_FIX = ('COUCHDB_QUERY_SERVER_JAVASCRIPT="/opt/couchdb/bin/couchjs -S 536870912 '
               '/opt/couchdb/share/server/main.js"')


def view_queue_bytes(couch: Couch) -> int | None:
    """The view updater's queue size in bytes; None when it cannot be read (not CouchDB, or not an admin)."""
    info = couch.server_info()
    if not info.is_couchdb():
        return None
    answer = couch.request("GET", "_node/_local/_config/view_updater/queue_memory_cap", ok=(200, 401, 403, 404))
    if answer.status_code == 200:
        try:
            return int(answer.json())
        except (TypeError, ValueError):
            return None
    if answer.status_code == 404:  # not set: the version's default
        return QUEUE_FAST if version_tuple(info.version) >= (3, 5, 2) else QUEUE_DEFAULT_BEFORE_352
    return None


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def view_queue_warning(couch: Couch) -> str | None:
    """A sentence naming the setting and its measured cost when the server's queue is the small one."""
    size = view_queue_bytes(couch)
    if size is None or size >= QUEUE_FAST:
        return None
    return (f"CouchDB's {QUEUE_SETTING} is {size:,} bytes: index builds run 2-3x slower than with "
            f"{QUEUE_FAST:,} (the default since CouchDB 3.5.2; measured on 14,590 grocery orders: 162 s "
            "against 59-89 s, and a 3x larger index file). Set it in the server's local.ini "
            f"([view_updater] queue_memory_cap = {QUEUE_FAST}) or through "
            "PUT /_node/_local/_config/view_updater/queue_memory_cap.")


def couchjs_failure(exc: Exception, ddoc_name: str) -> str | None:
    """What to do about a view build that failed because couchjs died; None for any other error."""
    if not (isinstance(exc, CouchError) and exc.error == "os_process_error"):
        return None
    return (f"CouchDB's JavaScript process (couchjs) died building _design/{ddoc_name}'s index "
            f"({exc.reason}). On a large shop this is couchjs's memory limit, 64 MiB by default (CouchDB's "
            "log then says \"out of memory\"): start CouchDB with "
            f"{COUCHJS_FIX} (docker-compose.yml sets it), then run the command again: "
            "CouchDB keeps what it had indexed.")
