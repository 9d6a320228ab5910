"""Databases derived from the log database by a chained step: the neighbour lists and the page-time
summaries. Each lives beside the log database (`<db><suffix>`), holds documents recomputed from the
views (never edited in place, so writing one twice is harmless), and a `_local` checkpoint: the
`_changes` seq its documents are complete up to. Either can be dropped and rebuilt at any time.

A `Derivation` says which log documents feed it, which of its keys a document touches, and how to
compute and write the documents of some keys; `rebuild` here and the worker in loader/follow.py
drive any of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Protocol

from loader.bulk import chunks
from loader.couch import Couch, CouchError

CHECKPOINT_ID = "_local/couchrec-worker"
CLUSTER_SETTLE = 5.0
WRITE_ATTEMPTS = 5


class Derivation(Protocol):
    name: str  # for progress lines: "neighbour lists", "page-time summaries"
    couch: Couch  # the log database it is derived from
    target: Couch  # the derived database
    selector: dict  # the log documents that feed it, as a `_changes` `_selector`

    def touched(self, doc: dict | None) -> set[Hashable]:
        """The keys whose documents a changed log document can alter."""

    def all_keys(self) -> list[Hashable]:
        """Every key there is a document for, read from the views."""

    def compute(self, keys: Iterable[Hashable]) -> list[dict]:
        """The documents of `keys`, computed from the views (`_id` set, no `_rev`)."""

    def update(self, docs: list[dict]) -> list[dict]:
        """The documents changed log documents `docs` touch, brought up to date (may use the stored ones)."""

    def write(self, docs: list[dict]) -> int:
        """Write computed documents; return how many were written."""


def derived_db(couch: Couch, suffix: str) -> Couch:
    return Couch(couch.url, couch.db + suffix, timeout=couch.timeout)


def db_exists(couch: Couch) -> bool:
    return couch.db_request("HEAD", ok=(200, 404)).status_code == 200


def read_checkpoint(target: Couch) -> dict | None:
    """The checkpoint, or None when there is none (or no derived database at all: also a 404)."""
    return target.get_doc(CHECKPOINT_ID)


def write_checkpoint(target: Couch, seq: str | int, current: dict | None) -> dict:
    """Store the `_changes` seq the documents are complete up to (an opaque value, stored as given)."""
    doc = {"_id": CHECKPOINT_ID, "seq": seq, "written_at": time.time(),
           **({"_rev": current["_rev"]} if current else {})}
    doc["_rev"] = target.put_doc(CHECKPOINT_ID, doc)
    return doc


def write_over(target: Couch, docs: list[dict], recompute: Callable[[list[str]], list[dict]]) -> int:
    """Write docs over whatever revisions are stored (a doc that carries the `_rev` it was read at is
    written over that one); recompute (by `_id`) and retry the ones another writer got to first,
    which may have read older views."""
    written = 0
    for _ in range(WRITE_ATTEMPTS):
        if not docs:
            return written
        unread = [doc["_id"] for doc in docs if "_rev" not in doc]
        rows = target.db_request("POST", "_all_docs", json={"keys": unread}).json()["rows"] if unread else []
        revs = {row["id"]: row["value"]["rev"] for row in rows if "value" in row and not row["value"].get("deleted")}
        docs = [{**doc, **({"_rev": revs[doc["_id"]]} if doc["_id"] in revs else {})} for doc in docs]
        results = target.bulk_docs(docs)
        conflicted = [doc["_id"] for doc, result in zip(docs, results) if result.get("error") == "conflict"]
        failed = [result for result in results if result.get("error") not in (None, "conflict")]
        if failed:
            raise CouchError(500, failed[0]["error"], failed[0].get("reason", "a document was not written"))
        written += len(docs) - len(conflicted)
        docs = recompute(conflicted) if conflicted else []
    raise CouchError(409, "conflict", f"{len(docs)} documents kept conflicting after {WRITE_ATTEMPTS} attempts")


def is_cluster(couch: Couch) -> bool:
    """True when the server has more than one node (a view read may then miss a fresh write)."""
    response = couch.request("GET", "_membership", ok=(200, 401, 403, 404))
    return response.status_code == 200 and len(response.json().get("cluster_nodes", [])) > 1


def default_settle(couch: Couch) -> float:
    """Seconds to let a cluster's views catch up with what the changes feed shows: 5 on a cluster, else 0."""
    return CLUSTER_SETTLE if is_cluster(couch) else 0.0


@dataclass
class Rebuild:
    items: int
    seconds: float
    checkpoint: str | int | None  # the seq written as the worker's start, None when one was kept


def rebuild(derivation: Derivation, *, batch: int = 200, settle: float = 0.0,
            progress: Callable[[int, int], None] = lambda done, total: None) -> Rebuild:
    """Recompute every document. Changes after the seq read first are left to the worker, which
    replays them (recomputing twice is harmless), so writes during a rebuild are never lost; on a
    cluster, `settle` seconds pass after that read so the views hold every write up to it."""
    started = time.monotonic()
    derivation.target.ensure_db()
    start_seq = derivation.couch.db_info()["update_seq"]
    time.sleep(settle)
    keys = derivation.all_keys()
    done = 0
    for part in chunks(keys, batch):  # each part read at one moment, so a document never mixes two
        derivation.write(derivation.compute(part))
        done += len(part)
        progress(done, len(keys))
    checkpoint = None
    if read_checkpoint(derivation.target) is None:
        write_checkpoint(derivation.target, start_seq, None)
        checkpoint = start_seq
    return Rebuild(len(keys), time.monotonic() - started, checkpoint)


def pending_changes(derivation: Derivation) -> dict | None:
    """How far behind a derived database is, or None when it has no checkpoint yet: changes to the log
    database after its checkpoint (every change, so an upper bound on the ones that feed it), and
    how long ago the worker last advanced it."""
    checkpoint = read_checkpoint(derivation.target)
    if checkpoint is None:
        return None
    couch = derivation.couch
    body = couch.db_request("GET", "_changes", params={"since": checkpoint["seq"], "limit": 1}).json()
    if "pending" in body:
        pending = body["pending"] + len(body["results"])
    else:  # PouchDB Server sends no `pending`: count the rest of the feed
        pending = len(couch.db_request("GET", "_changes", params={"since": checkpoint["seq"]}).json()["results"])
    return {"pending_changes": pending, "checkpoint_age_s": round(max(0.0, time.time() - checkpoint["written_at"]), 1)}
