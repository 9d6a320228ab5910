"""Databases derived from the log database by a chained step: the neighbour lists and the page-time
summaries. Each lives beside the log database (`<db><suffix>`), holds documents recomputed from the
views (writing one twice is harmless) or, for a journaled derivation, brought forward by each batch's
own counts, and a `_local` checkpoint: the `_changes` seq its documents are complete up to. Either can
be dropped and rebuilt at any time.

A `Derivation` says which log documents feed it, which of its keys a document touches, and how to
compute and write the documents of some keys; `rebuild` here and the worker in loader/derived/follow.py
drive any of them.
"""

from __future__ import annotations

import time
import json
import uuid
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Iterator, Protocol

from loader.couchdb.ahead import read_ahead
from loader.couchdb.couch import Couch, CouchError, chunks

CHECKPOINT_ID = "_local/couchrec-worker"
WORKERS_ID = "workers"  # how many workers share the database: see note_workers
REBUILD_ID = "_local/couchrec-rebuild"  # an unfinished rebuild's place: where it started and the last key written
CLUSTER_SETTLE = 5.0
WRITE_ATTEMPTS = 5


class Derivation(Protocol):
    name: str  # for progress lines: "neighbour lists", "page-time summaries"
    couch: Couch  # the log database it is derived from
    target: Couch  # the derived database
    selector: dict  # the log documents that feed it, as a `_changes` `_selector`
    part: str  # "" or, for one of several workers sharing the database, its shard ("-0of2"): appended to
    # the ids of its checkpoint and its rebuild's place
    workers: int  # how many workers share the derived database

    def touched(self, doc: dict | None) -> set[Hashable]:
        """The keys whose documents a changed log document can alter."""

    read_to: str | int | None  # after all_keys, where its keys come from a pass over `_changes`: that pass's
    # last seq, every change up to it read (None when the keys come from the views)
    journaled: bool  # documents brought forward by each batch's own counts (not recomputed from the views): the
    # follower journals each batch in the checkpoint and replays exactly it, and a rebuild always resets the
    # checkpoint to its own place
    epoch: str | None  # set by a rebuild before compute_all: its id, which a journaled derivation's documents carry

    def all_keys(self, progress: Callable[[int, int], None], leave_out_after=None) -> list[Hashable]:
        """Every key there is a document for; where reading them takes a pass over the log database (the
        neighbour lists read every order), `progress(changes read, changes in all)` is told how far it got,
        what the pass read is kept for compute_all, and a resumed rebuild's pass leaves out the changes
        after `leave_out_after` (the first pass's last seq)."""

    def compute(self, keys: Iterable[Hashable]) -> list[dict]:
        """The documents of `keys`, computed from the views (`_id` set, no `_rev`)."""

    def compute_all(self, keys: list[Hashable], batch: int) -> Iterator[tuple[list[Hashable], list[dict]]]:
        """The documents of `keys` (in all_keys' order), computed from the views part by part: each part's
        keys, in order, and their documents; memory bounded by a part, whatever the total. A part is
        computed while the one before is being written, so no part may depend on the one before having
        been written."""

    def update(self, docs: list[dict], place: "BatchPlace | None") -> list[dict]:
        """The documents changed log documents `docs` touch, brought up to date (may use the stored ones);
        `place`, for a journaled derivation, says where the batch ends."""

    def carried(self, checkpoint: dict, docs: list[dict]) -> dict:
        """Fields of the checkpoint carried past a batch of `docs` (a journaled derivation's order count)."""

    def rebuilt(self) -> dict:
        """Fields of the checkpoint a rebuild writes, after compute_all."""

    def write(self, docs: list[dict]) -> int:
        """Write computed documents; return how many were written."""


@dataclass
class BatchPlace:
    """Where a journaled derivation's batch sits: the feed's seq after it, its own id (marked on the
    documents it changed), and the checkpoint it starts from."""

    through: str | int
    id: str
    checkpoint: dict


def derived_db(couch: Couch, suffix: str) -> Couch:
    """The derived database beside the log database `couch`, opened as `couch` is (metrics, retries)."""
    return couch.sibling(couch.db + suffix)


def db_exists(couch: Couch) -> bool:
    return couch.db_request("HEAD", ok=(200, 404)).status_code == 200


def read_checkpoint(target: Couch, part: str = "") -> dict | None:
    """The checkpoint, or None when there is none (or no derived database at all: also a 404)."""
    return target.get_doc(CHECKPOINT_ID + part)


def write_checkpoint(target: Couch, seq: str | int, current: dict | None, part: str = "", **fields) -> dict:
    """Store the `_changes` seq the documents are complete up to (an opaque value, stored as given), with a
    derivation's own fields (Derivation.carried, a journaled batch)."""
    doc = {"_id": CHECKPOINT_ID + part, "seq": seq, "written_at": time.time(), **fields,
           **({"_rev": current["_rev"]} if current else {})}
    doc["_rev"] = target.put_doc(doc["_id"], doc)
    return doc


def note_workers(target: Couch, count: int) -> None:
    """Record in the derived database how many workers share it now (document `workers`, listable where
    `_local` documents are not), so a reader of its lag knows which checkpoints to read."""
    current = target.get_doc(WORKERS_ID)
    if (current or {"count": 1})["count"] != count:  # no document: one worker
        try:
            target.put_doc(WORKERS_ID, {"_id": WORKERS_ID, "count": count, **({"_rev": current["_rev"]} if current else {})})
        except CouchError as exc:
            if exc.status != 409:  # another worker of the same configuration wrote it first
                raise


def workers_checkpoints(target: Couch) -> list[dict]:
    """The checkpoints of the workers keeping `target` now: the one worker's, or, where several share it
    (`_local/couchrec-worker-0of2`, ...), each one's; a worker not started yet has none."""
    noted = target.get_doc(WORKERS_ID)
    count = noted["count"] if noted else 1
    parts = [""] if count == 1 else [f"-{index}of{count}" for index in range(count)]
    return [checkpoint for checkpoint in (read_checkpoint(target, part) for part in parts) if checkpoint]


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


def in_parts(compute: Callable[[list], list[dict]], keys: list, batch: int) -> Iterator[tuple[list, list[dict]]]:
    """compute_all for a derivation that computes any keys alike: `batch` keys at a time."""
    for part in chunks(keys, batch):  # each part read at one moment, so a document never mixes two
        yield part, compute(part)


@dataclass
class Rebuild:
    items: int
    seconds: float
    checkpoint: str | int | None  # the seq written as the worker's start, None when one was kept
    resumed: int = 0  # keys an interrupted rebuild had written already, not computed again


def same_key(a, b) -> bool:
    """Keys compared as stored in JSON (a tuple comes back as a list)."""
    return json.dumps(a) == json.dumps(b)


def rebuild(derivation: Derivation, *, batch: int = 200, settle: float = 0.0,
            progress: Callable[[int, int], None] = lambda done, total: None,
            reading: Callable[[int, int], None] = lambda done, total: None) -> Rebuild:
    """Recompute every document. Changes after the seq read first are left to the worker, which
    replays them (recomputing twice is harmless), so writes during a rebuild are never lost; on a
    cluster, `settle` seconds pass after that read so the views hold every write up to it.

    `reading` is told how far reading the keys has got (Derivation.all_keys), `progress` how many
    documents are written. Resumable: after each part the last key written is stored in the derived database
    (`_local/couchrec-rebuild`, with that first seq), and a rebuild that finds it starts after
    that key instead of from the first (its pass leaving out what the first pass had not read). Keys new
    since are the worker's to replay. A journaled derivation's checkpoint is always reset to the rebuild's
    place (its documents are counted there); any other keeps a checkpoint it finds."""
    started = time.monotonic()
    target = derivation.target
    target.ensure_db()
    place_id = REBUILD_ID + derivation.part
    place = target.get_doc(place_id)
    if place is None:
        start_seq = derivation.couch.db_info()["update_seq"]
        time.sleep(settle)
        place = {"_id": place_id, "start_seq": start_seq, "after": None, "done": 0, "epoch": uuid.uuid4().hex}
        place["_rev"] = target.put_doc(place_id, place)
    derivation.epoch = place.get("epoch")
    keys = derivation.all_keys(reading, place["start_seq"] if place["after"] is not None else None)
    if place["after"] is None and derivation.read_to is not None:
        # keys read from the feed itself: its last seq holds exactly what was read, whichever shard copies
        # answered, where the database's update_seq may count a write the copies read lack yet
        place = {**place, "start_seq": derivation.read_to}
        place["_rev"] = target.put_doc(place_id, place)
    left = keys
    if place["after"] is not None:
        past = next((n for n, key in enumerate(keys) if same_key(key, place["after"])), None)
        left = keys[past + 1:] if past is not None else keys
    resumed = place["done"] if left is not keys else 0
    done = resumed
    progress(done, resumed + len(left))
    for part, docs in read_ahead(derivation.compute_all(left, batch)):  # the next part computed while this one is written
        derivation.write(docs)
        done += len(part)
        place = {**place, "after": part[-1], "done": done}
        place["_rev"] = target.put_doc(place_id, place)
        progress(done, resumed + len(left))
    checkpoint = None
    for attempt in range(WRITE_ATTEMPTS):  # a worker may write its checkpoint meanwhile
        current = read_checkpoint(target, derivation.part)
        if current is not None and not derivation.journaled:
            break
        try:
            write_checkpoint(target, place["start_seq"], current, derivation.part, **derivation.rebuilt())
            checkpoint = place["start_seq"]
            break
        except CouchError as exc:
            if exc.status != 409 or attempt == WRITE_ATTEMPTS - 1:
                raise
    target.delete_doc(place_id, place["_rev"])
    return Rebuild(done - resumed, time.monotonic() - started, checkpoint, resumed)


def pending_changes(derivation: Derivation) -> dict | None:
    """How far behind a derived database is, or None when it has no checkpoint yet: changes to the log
    database after its checkpoint (every change, so an upper bound on the ones that feed it), and
    how long ago the worker last advanced it; with several workers sharing it, the one furthest behind."""
    checkpoints = workers_checkpoints(derivation.target)
    if not checkpoints:
        return None
    lags = [changes_after(derivation.couch, checkpoint["seq"]) for checkpoint in checkpoints]
    oldest = min(checkpoint["written_at"] for checkpoint in checkpoints)
    return {"pending_changes": max(lags), "checkpoint_age_s": round(max(0.0, time.time() - oldest), 1)}


def changes_after(couch: Couch, seq) -> int:
    body = couch.db_request("GET", "_changes", params={"since": seq, "limit": 1}).json()
    if "pending" in body:
        return body["pending"] + len(body["results"])
    # PouchDB Server sends no `pending`: count the rest of the feed
    return len(couch.db_request("GET", "_changes", params={"since": seq}).json()["results"])
