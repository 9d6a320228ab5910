"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify

from loader.couch import CouchError, CouchUnavailable
from loader.designdocs import diff_all
from service.db import get_couch, get_ddocs
from service.openapi import operation

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(summary="Liveness: the process is up and answering", tag="operations", access="public", responses={200: "Health"})
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation(summary="Readiness: the database answers and holds the design docs this code expects", tag="operations", access="public",
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
    return jsonify({"status": "ok", "database": "reachable", "design_docs": "current"})
