"""Logs as JSON lines on standard error: gunicorn's own, and one line per request with its id.

Every line goes through `RedactingJsonFormatter`, so a password in a URL (COUCHDB_URL
in an error message, a traceback) is written as `***` whatever logged it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-Id"
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")  # a caller's id is kept only if it is this tame
CREDENTIALS = re.compile(r"(://[^\s/:@]*:)[^\s/@]*@")

log = logging.getLogger("couchrec.request")


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object a line, with the password of any URL replaced by ***."""

    def format(self, record: logging.LogRecord) -> str:
        return CREDENTIALS.sub(r"\1***@", super().format(record))


JSON_FORMATTER = {
    "()": RedactingJsonFormatter,
    "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
}
# gunicorn's `logconfig_dict`: its error log and our lines as JSON on stderr; no access log of its own.
LOGCONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": JSON_FORMATTER},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


def request_id() -> str:
    return g.get("request_id", "")


def request_seconds() -> float:
    """Seconds since this request reached the app."""
    return time.perf_counter() - g.request_started


def note_error(exc: BaseException) -> None:
    """Keep an error's cause for this request's log line."""
    g.request_error = f"{type(exc).__name__}: {exc}"


def init_app(app: Flask) -> None:
    """Give every request an id (the caller's `X-Request-Id`, or a new one) and log one line when it ends."""

    @app.before_request
    def start():
        g.request_started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if ACCEPTED_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def finish(response):
        response.headers[REQUEST_ID_HEADER] = request_id()
        line = {"method": request.method, "route": route(), "path": request.path, "status": response.status_code,
                "duration_ms": round(request_seconds() * 1000, 2), "request_id": request_id()}
        if "request_error" in g:
            line["error"] = g.request_error
        log.log(logging.WARNING if response.status_code >= 500 else logging.INFO, "request", extra=line)
        return response


def route() -> str:
    """The matched URL rule (`/logs/<text:doc_id>`), never the raw path; "(unmatched)" for a 404 or 405."""
    return request.url_rule.rule if request.url_rule is not None else "(unmatched)"
