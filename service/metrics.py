"""Prometheus metrics, served at GET /metrics in the text format.

Under gunicorn each worker process writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (set up by service/gunicorn_conf.py before any worker
starts), and a scrape, whichever worker answers it, adds up every worker's files.
Labels are bounded: routes are Flask's URL rules, never raw paths.
"""

from __future__ import annotations

import glob
import os

from flask import Blueprint, Flask, Response, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)
from prometheus_client import multiprocess

from loader.couchdb.couch import CouchError, CouchUnavailable
from service.derivations import every_lag
from service.db import get_couch
from service.logs import request_seconds, route
from service.openapi import operation

bp = Blueprint("metrics", __name__)

METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}  # any other is "other": labels stay few
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Histogram("couchrec_http_request_duration_seconds",
                          "Time to answer an HTTP request, by method, route (URL rule) and status.",
                          ["method", "route", "status"], buckets=BUCKETS)
COUCHDB_REQUESTS = Histogram("couchrec_couchdb_request_duration_seconds",
                             "Time of each request to CouchDB, by method and status (\"none\": no answer).",
                             ["method", "status"], buckets=BUCKETS)
COUCHDB_ERRORS = Counter("couchrec_couchdb_errors_total",
                         "Requests to CouchDB that got no answer (unreachable, timed out) or a 5xx.", ["kind"])
VIEW_CACHE = Counter("couchrec_view_cache_lookups_total", "View answers asked of the in-process cache.", ["result"])
LOGS = Counter("couchrec_logs_ingested_total",
               "Logs sent to the ingestion API, by outcome (created, present, conflict, rejected, failed).",
               ["outcome"])
DERIVED_PENDING = Gauge("couchrec_derived_pending_changes",
                        "Changes to the log database after a derived database's worker checkpoint, by derived "
                        "database (read at scrape time; an upper bound on the logs it misses).", ["derived"],
                        multiprocess_mode="liveall")
DERIVED_CHECKPOINT_AGE = Gauge("couchrec_derived_checkpoint_age_seconds",
                               "Seconds since a derived database's worker last advanced its checkpoint (read at "
                               "scrape time).", ["derived"], multiprocess_mode="liveall")


def observe_couchdb(method: str, status: int | None, seconds: float) -> None:
    """loader.couchdb.couch.Couch's request observer."""
    COUCHDB_REQUESTS.labels(method, str(status) if status is not None else "none").observe(seconds)
    if status is None:
        COUCHDB_ERRORS.labels("no_answer").inc()
    elif status >= 500:
        COUCHDB_ERRORS.labels("server_error").inc()


def observe_cache(hit: bool) -> None:
    """loader.couchdb.viewcache.ViewCache's lookup observer."""
    VIEW_CACHE.labels("hit" if hit else "miss").inc()


def count_logs(outcomes) -> None:
    """Count ingestion outcomes (anything with a `status`)."""
    for outcome in outcomes:
        LOGS.labels(outcome.status).inc()


def read_worker_lag() -> None:
    """Set the lag gauges of every derived database from the database; a database without a checkpoint yet
    (or no answer) leaves its gauges unset."""
    try:
        lags = every_lag(get_couch())
    except (CouchError, CouchUnavailable):
        return
    for name, lag in lags.items():
        if lag is not None:
            DERIVED_PENDING.labels(name).set(lag["pending_changes"])
            DERIVED_CHECKPOINT_AGE.labels(name).set(lag["checkpoint_age_s"])


class WrittenFilesCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's collector over the files a worker has begun to fill: a worker creates its file
    empty and sizes it on its first sample, and a scrape between the two failed with `struct.error`
    (seen as a 500 from /metrics while a second worker started)."""

    def __init__(self, registry: CollectorRegistry, folder: str):
        self.folder = folder
        super().__init__(registry, folder)

    def collect(self):
        return self.merge([path for path in glob.glob(os.path.join(self.folder, "*.db")) if begun(path)],
                          accumulate=True)


def begun(path: str) -> bool:
    """Whether a metrics file holds its 4-byte header yet (a file removed meanwhile has not)."""
    try:
        return os.path.getsize(path) >= 4
    except OSError:
        return False


def exposition() -> bytes:
    """Every worker's samples, or this process's alone outside gunicorn."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    WrittenFilesCollector(registry, os.environ["PROMETHEUS_MULTIPROC_DIR"])
    return generate_latest(registry)


@bp.get("/metrics")
@operation(summary="Metrics in the Prometheus text format", tag="operations", access="read",
           description="Request latency by route and status, CouchDB request latency and errors, view cache "
                       "hits and misses, ingestion outcomes, summed over every worker process; each derived "
                       "database's lag (neighbour lists, page-time summaries), read from the database at scrape time.",
           responses={200: "text/plain"})
def metrics():
    read_worker_lag()
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every request by its route and status."""

    @app.after_request
    def observe_request(response):
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(method, route(), str(response.status_code)).observe(request_seconds())
        return response

    app.register_blueprint(bp)
