"""One time budget per HTTP request: COUCHREC_TIMEOUT for all its CouchDB requests together.

Each CouchDB request waits at most for what is left of it; past it the request
answers 503 with Retry-After (loader.couchdb.couch raises CouchUnavailable), long before
gunicorn's worker timeout (set far above it in service/gunicorn_conf.py).
"""

from __future__ import annotations

from flask import Flask, g

from loader.couchdb.couch import end_deadline, start_deadline


def init_app(app: Flask, seconds: float) -> None:
    @app.before_request
    def start():
        g.couch_deadline = start_deadline(seconds)

    @app.teardown_request
    def end(exc):
        token = g.pop("couch_deadline", None)
        if token is not None:
            end_deadline(token)
