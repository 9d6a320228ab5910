"""Write log documents idempotently and say what became of each.

A write under an id that already holds the same log is "present" (a retry, or a
file loaded twice); under an id that holds a different log it is a "conflict".
Both the HTTP API and the bulk loader write through here, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loader.couchdb.couch import Couch
from loader.logs.schema import prepare_log

CREATED, PRESENT, CONFLICT, REJECTED, FAILED = "created", "present", "conflict", "rejected", "failed"


@dataclass(frozen=True)
class Outcome:
    doc_id: str
    status: str
    field: str | None = None
    reason: str | None = None

    @property
    def stored(self) -> bool:
        """True when CouchDB holds this log (written now or before)."""
        return self.status in (CREATED, PRESENT)


@dataclass(frozen=True)
class PendingLog:
    """A validated log waiting to be written; `stamped` when the service supplied its timestamp."""

    doc_id: str
    doc: dict
    stamped: bool = False


def pending_log(body: object, doc_id: str, *, now: datetime | None = None) -> PendingLog:
    """Turn a writer's record into the log to store under `doc_id`; raise ValidationError when it is not a log.

    Both writers (the HTTP API and `couchrec load`) come here, so a log they stamp with `now` is marked
    `stamped` alike, and a retry of it is "present" whatever time it carries."""
    return PendingLog(doc_id, prepare_log(body, now=now), stamped=not (isinstance(body, dict) and "timestamp" in body))


def same_log(stored: dict, pending: PendingLog) -> bool:
    """Does the stored document hold the pending log? A timestamp we supplied ourselves is not compared."""
    ignored = {"_id", "_rev"} | ({"timestamp"} if pending.stamped else set())

    def compared(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if k not in ignored}

    return compared(stored) == compared(pending.doc)


def forbidden_outcome(doc_id: str, reason: str) -> Outcome:
    """Turn validate_doc_update's "field: reason" into an outcome."""
    field, _, detail = reason.partition(": ")
    return Outcome(doc_id, REJECTED, field if detail else None, detail or reason)


def settle_conflict(stored: dict | None, pending: PendingLog) -> Outcome:
    if stored is not None and same_log(stored, pending):
        return Outcome(pending.doc_id, PRESENT)
    return Outcome(pending.doc_id, CONFLICT, "_id", "a different log is already stored under this id")


def write_logs(couch: Couch, batch: list[PendingLog]) -> list[Outcome]:
    """Write a batch with `_bulk_docs`; return one outcome per log, in order."""
    if not batch:
        return []
    results = results_by_log(batch, couch.bulk_docs([dict(p.doc, _id=p.doc_id) for p in batch]))
    outcomes: list[Outcome | None] = []
    conflicted = []
    for pending, result in zip(batch, results):
        error = result.get("error")
        if not error:
            outcomes.append(Outcome(pending.doc_id, CREATED))
        elif error == "conflict":
            outcomes.append(None)
            conflicted.append(pending.doc_id)
        elif error == "forbidden":
            outcomes.append(forbidden_outcome(pending.doc_id, result.get("reason", "")))
        else:
            outcomes.append(Outcome(pending.doc_id, FAILED, None, f"{error}: {result.get('reason', '')}"))
    stored = couch.get_docs(conflicted)
    for doc_id in set(conflicted) - set(stored):  # a cluster's _all_docs may read a copy that lacks it yet
        stored[doc_id] = couch.get_doc(doc_id)
    created = set()  # ids written more than once in this batch whose CREATED is given out
    settled = []
    for pending, result, outcome in zip(batch, results, outcomes):
        if outcome is None:
            outcome = settle_conflict(stored.get(pending.doc_id), pending)
            if outcome.status == PRESENT and result.get("stored_now") and pending.doc_id not in created:
                created.add(pending.doc_id)  # the first of an id's logs that holds what was stored
                outcome = Outcome(pending.doc_id, CREATED)
        settled.append(outcome)
    return settled


def results_by_log(batch: list[PendingLog], results: list[dict]) -> list[dict]:
    """`_bulk_docs` results matched to the batch's logs by id: CouchDB answers in request order, but
    PouchDB Server lists a conflict with a concurrent request's write after the rest. Where one id
    is written more than once in a batch and one of them was stored, all its logs are settled
    against the stored document like conflicts, marked `stored_now`."""
    by_id: dict[str, list[dict]] = {}
    for result in results:
        by_id.setdefault(result["id"], []).append(result)
    for doc_id, answers in by_id.items():
        if len(answers) > 1 and any(not answer.get("error") for answer in answers):
            by_id[doc_id] = [{"error": "conflict", "stored_now": True} for _ in answers]
    return [by_id[pending.doc_id].pop(0) for pending in batch]
