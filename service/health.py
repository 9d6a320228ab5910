"""Liveness and readiness probes, and how far behind the derived databases are."""

from __future__ import annotations

from flask import Blueprint, jsonify

from loader.couchdb.couch import CouchError, CouchUnavailable
from loader.designdocs.deploy import diff_all
from service.derivations import every_lag
from loader.couchdb.serverconfig import view_queue_warning
from service.db import get_couch, get_ddocs
from service.openapi import READS, operation

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(summary="Liveness: the process is up and answering", tag="operations", access="public", responses={200: "Health"})
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation(summary="Readiness: the database answers and holds the design docs this code expects", tag="operations", access="public",
           description="`warnings` names server settings that make index builds slow (read where the "
                       "service's CouchDB user may read the server's configuration).",
           responses={200: "Readiness", 503: "Readiness"})
def readyz():
    couch = get_couch()
    try:
        couch.db_info()
        stale = [c.ddoc_id for c in diff_all(couch, get_ddocs()) if c.status != "unchanged"]
    except (CouchUnavailable, CouchError) as exc:
        return jsonify({"status": "unavailable", "database": "unreachable", "reason": str(exc)}), 503
    if stale:
        reason = "design documents differ from this code's; run `couchrec designdocs install`"
        return jsonify({"status": "unavailable", "database": "reachable", "stale_design_docs": stale,
                        "reason": reason}), 503
    warnings = [warning for warning in (view_queue_warning(couch),) if warning]
    return jsonify({"status": "ok", "database": "reachable", "design_docs": "current", "warnings": warnings})


@bp.get("/status/neighbours")
@operation(summary="How far the neighbour lists lag the orders", tag="operations", access="public",
           description="`pending_changes`: changes to the log database after the worker's checkpoint (an upper "
                       "bound on the orders not yet in the lists; with several workers sharing the lists, the one "
                       "furthest behind); `checkpoint_age_s`: seconds since that worker last advanced it. `lists` "
                       "is `absent` until `couchrec neighbours rebuild` or `couchrec worker` has run "
                       "(recommendations then come from the views).",
           responses={200: "NeighboursLag"}, errors=READS)
def neighbours_status():
    return lag_answer("neighbours", "lists")


@bp.get("/status/page-times")
@operation(summary="How far the page-time summaries lag the page views", tag="operations", access="public",
           description="`pending_changes`: changes to the log database after the worker's checkpoint (an upper "
                       "bound on the page views not yet summarised); `checkpoint_age_s`: seconds since the worker "
                       "last advanced it. `summaries` is `absent` until `couchrec page-times rebuild` or "
                       "`couchrec worker` has run (page stats then come from the views).",
           responses={200: "PageTimesLag"}, errors=READS)
def page_times_status():
    return lag_answer("page-times", "summaries")


def lag_answer(name: str, key: str):
    lag = every_lag(get_couch())[name]
    if lag is None:
        return jsonify({key: "absent", "pending_changes": None, "checkpoint_age_s": None})
    return jsonify({key: "present", **lag})
