"""Log ingestion: PUT /logs/<doc_id>, POST /logs, POST /logs/_bulk.

A 2xx is sent only after CouchDB acknowledged the write. PUT is idempotent: the
same log again answers 200, a different log under the same id 409.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from loader.logs.ingest import (CONFLICT, CREATED, FAILED, PRESENT, REJECTED, Outcome, PendingLog, pending_log,
                                write_logs)
from loader.logs.schema import ValidationError, check_doc_id, new_doc_id
from service.bodies import BODY, json_body, parse_json
from service.db import get_couch, get_settings
from service.errors import ApiError
from service.metrics import count_logs
from service.openapi import READS, operation
from service.schemas import doc_id_schema, ref

bp = Blueprint("ingest", __name__)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
ONE_LOG = {"application/json": ref("Log")}
WRITE_ERRORS = (400, 413, *READS)


def write_one(body, doc_id: str):
    """Validate and write one log; answer with what became of it."""
    try:
        log = pending_log(body, doc_id)
    except ValidationError as exc:
        count_logs([Outcome(doc_id, REJECTED, exc.field, exc.reason)])
        raise
    [outcome] = write_logs(get_couch(), [log])
    count_logs([outcome])
    return single_answer(outcome)


def single_answer(outcome: Outcome):
    if outcome.status == CREATED:
        response = jsonify({"id": outcome.doc_id, "status": CREATED})
        response.status_code = 201
        response.headers["Location"] = url_for("ingest.put_one", doc_id=outcome.doc_id)
        return response
    if outcome.status == PRESENT:
        return jsonify({"id": outcome.doc_id, "status": PRESENT})
    if outcome.status == CONFLICT:
        raise ApiError(409, outcome.reason, field="_id", error="conflict")
    raise ApiError(400, f"{outcome.field}: {outcome.reason}", field=outcome.field, error="invalid_document")


@bp.put("/logs/<text:doc_id>")
@operation(summary="Store one log under a client-chosen id (idempotent)", tag="ingestion", access="write",
           description="201 when stored now, 200 when this same log was already stored, 409 when another was.",
           path={"doc_id": ("The log's id, chosen by the client.", doc_id_schema())}, body=ONE_LOG,
           responses={201: "Stored", 200: "Stored"}, errors=(409, *WRITE_ERRORS))
def put_one(doc_id: str):
    check_doc_id(doc_id, "id")
    body = json_body()
    if isinstance(body, dict) and "_id" in body and body["_id"] != doc_id:
        raise ApiError(400, "must match the id in the URL (or be left out)", field="_id")
    return write_one(body, doc_id)


@bp.post("/logs")
@operation(summary="Store one log under a generated id", tag="ingestion", access="write", body=ONE_LOG,
           responses={201: "Stored"}, errors=WRITE_ERRORS)
def post_one():
    return write_one(json_body(), new_doc_id())


@bp.post("/logs/_bulk")
@operation(summary="Store many logs; answer with each one's fate, in order", tag="ingestion", access="write",
           description="A JSON array, or NDJSON (one log a line) with Content-Type application/x-ndjson. "
                       "Logs without `_id` get a generated one.",
           body={"application/json": {"type": "array", "items": ref("Log")},
                 "application/x-ndjson": {"type": "string"}},
           responses={200: "BulkResult"}, errors=WRITE_ERRORS)
def post_bulk():
    records = bulk_records()
    limit = get_settings().max_bulk_docs
    if len(records) > limit:
        raise ApiError(413, f"at most {limit} logs per request; split the batch", field=BODY,
                       error="too_many_documents")
    outcomes: list[Outcome | None] = []
    batch: list[PendingLog] = []
    for record in records:
        try:
            if isinstance(record, ValidationError):
                raise record
            doc_id = check_doc_id(record["_id"]) if isinstance(record, dict) and "_id" in record else new_doc_id()
            batch.append(pending_log(record, doc_id))
            outcomes.append(None)
        except ValidationError as exc:
            doc_id = record.get("_id") if isinstance(record, dict) and isinstance(record.get("_id"), str) else None
            outcomes.append(Outcome(doc_id, REJECTED, exc.field, exc.reason))
    written = iter(write_logs(get_couch(), batch))
    results = [outcome or next(written) for outcome in outcomes]
    count_logs(results)
    counts = {status: 0 for status in (CREATED, PRESENT, CONFLICT, REJECTED, FAILED)}
    for outcome in results:
        counts[outcome.status] += 1
    return jsonify({**counts, "results": [describe(index, outcome) for index, outcome in enumerate(results)]})


def bulk_records() -> list:
    """The logs of a bulk body; an NDJSON line that is not JSON stands as its ValidationError."""
    if request.mimetype in NDJSON_TYPES:
        records = []
        for line in request.get_data(as_text=True).splitlines():
            if line.strip():
                try:
                    records.append(parse_json(line))
                except ValueError as exc:
                    records.append(ValidationError("(document)", f"not valid JSON: {exc}"))
        return records
    body = json_body()
    if not isinstance(body, list):
        raise ApiError(400, "must be a JSON array of logs (or NDJSON with Content-Type application/x-ndjson)",
                       field=BODY)
    return body


def describe(index: int, outcome: Outcome) -> dict:
    entry = {"index": index, "id": outcome.doc_id, "status": outcome.status}
    if outcome.reason:
        entry.update(field=outcome.field, reason=outcome.reason)
    return entry
