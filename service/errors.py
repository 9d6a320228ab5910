"""JSON error answers for every failure: the client always learns what went wrong.

Database trouble is noted with its cause for the request's log line (service/logs.py).
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from loader.couchdb.couch import CouchError, CouchUnavailable
from loader.logs.schema import ValidationError
from loader.pages.pagetimes import ViewAnswerError
from service.logs import note_error

RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """A request the service refuses, with the HTTP status and the field at fault."""

    def __init__(self, status: int, message: str, *, field: str | None = None, error: str = "bad_request",
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.error = error
        self.headers = headers


def error_response(status: int, error: str, message: str, *, field: str | None = None, headers=None):
    body = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that turn exceptions into JSON answers."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.error, exc.message, field=exc.field, headers=exc.headers)

    @app.errorhandler(ValidationError)
    def invalid_document(exc: ValidationError):
        return error_response(400, "invalid_document", f"{exc.field}: {exc.reason}", field=exc.field)

    @app.errorhandler(CouchUnavailable)
    def database_unavailable(exc: CouchUnavailable):
        note_error(exc)
        return error_response(503, "database_unavailable", "the database did not answer; retry later",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(CouchError)
    def database_error(exc: CouchError):
        note_error(exc)
        return error_response(502, "database_error", f"the database refused the request: {exc.error}")

    @app.errorhandler(ViewAnswerError)
    def bad_view_answer(exc: ViewAnswerError):
        note_error(exc)
        return error_response(502, "database_error", str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(exc: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, "body_too_large",
                              f"the body is larger than {limit} bytes (COUCHREC_MAX_BODY_BYTES); split it",
                              field="(body)")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        note_error(exc)
        current_app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "the service failed to answer; the error is logged")
