"""The OpenAPI 3.1 description of the service, generated from its routes.

Every view declares itself with `@operation(...)`: what it answers, its query
parameters (the same `Param` objects that read the request), its path
parameters, body and errors. `openapi_document(app)` walks Flask's URL map, so a
route cannot be served without being described: an undeclared one is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import wraps
from importlib.metadata import PackageNotFoundError, version

from flask import Flask

from service.params import Param, read_query
from service.schemas import components, ref

ERRORS = {
    400: "A parameter, the path or the body is invalid: `field` names it, `message` says why.",
    401: "No API key was sent (`X-API-Key`, or `Authorization: Bearer`).",
    403: "The API key sent does not open this endpoint.",
    404: "Nothing is served at this path.",
    409: "A different log is already stored under this id.",
    413: "The body exceeds COUCHREC_MAX_BODY_BYTES, or holds more than COUCHREC_MAX_BULK_DOCS logs.",
    502: "CouchDB refused the request or answered something unusable.",
    503: "CouchDB did not answer within COUCHREC_TIMEOUT. Nothing is acknowledged: retry after "
         "`Retry-After` seconds (PUT with the same id is idempotent).",
}
READS = (502, 503)
TAGS = [
    ("analytics", "Page generation time, from `_design/pages`."),
    ("recommendations", "Customers who bought this also bought, from `_design/recommend`."),
    ("products", "Best sellers and items viewed together, from `_design/products`."),
    ("ingestion", "The shop's logs in; every acknowledged log is in CouchDB."),
    ("operations", "Probes for the orchestrator."),
    ("pages", "The dashboard, these docs and their assets."),
]
PATH_TEMPLATE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Operation:
    """What one view answers. `responses` maps a status to a component schema name or a media type."""

    summary: str
    tag: str
    responses: dict[int, str]
    description: str = ""
    query: tuple[Param, ...] = ()
    path: dict[str, tuple[str, dict]] = field(default_factory=dict)
    body: dict[str, dict] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    access: str = "read"  # "write" (ingestion keys), "read" (read keys, when configured) or "public"

    def render(self, endpoint: str, keyed: bool) -> dict:
        """The operation object; `keyed` when this operation needs an API key on this service."""
        described = {"operationId": endpoint.replace(".", "_"), "summary": self.summary, "tags": [self.tag]}
        if keyed:
            described["security"] = [{"apiKey": []}, {"bearer": []}]
        if self.description:
            described["description"] = self.description
        parameters = [{"name": name, "in": "path", "required": True, "description": text, "schema": schema}
                      for name, (text, schema) in self.path.items()]
        parameters += [param.openapi() for param in self.query]
        if parameters:
            described["parameters"] = parameters
        if self.body:
            described["requestBody"] = {"required": True, "content": {
                media: {"schema": schema} for media, schema in self.body.items()}}
        answers = {str(status): success(status, what) for status, what in self.responses.items()}
        answers.update({str(status): failure(status) for status in self.errors + ((401, 403) if keyed else ())})
        answers["414"] = {"description": "The request line (method, path and query) exceeds gunicorn's "
                                         "4094 bytes; answered by the server, in HTML.",
                          "content": {"text/html": {}}}
        described["responses"] = answers
        return described


def success(status: int, what: str) -> dict:
    if "/" in what:
        return {"description": f"The {what} resource.", "content": {what: {}}}
    return {"description": what, "content": {"application/json": {"schema": ref(what)}}}


def failure(status: int) -> dict:
    answer = {"description": ERRORS[status], "content": {"application/json": {"schema": ref("Error")}}}
    if status == 503:
        answer["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                             "schema": {"type": "integer"}}}
    return answer


def operation(**declared):
    """Declare a view for the OpenAPI document; the wrapper reads its query (unknown names are 400s).

    A view that declares query parameters receives them as `query`, a dict.
    """
    described = Operation(**declared)

    def decorate(view):
        @wraps(view)
        def run(**kwargs):
            query = read_query(described.query)
            if described.query:
                kwargs["query"] = query
            return view(**kwargs)

        run.operation = described
        return run

    return decorate


def openapi_document(app: Flask) -> dict:
    """The OpenAPI document of every route of `app`, as configured (which endpoints need keys)."""
    settings = app.extensions["couchrec"]["settings"]
    keyed = {"write": True, "read": bool(settings.read_keys), "public": False}
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        described = getattr(app.view_functions[rule.endpoint], "operation", None)
        if described is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) has no @operation declaration")
        template = PATH_TEMPLATE.sub(r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(template, {})[method.lower()] = described.render(rule.endpoint, keyed[described.access])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "couchrec",
            "version": package_version(),
            "description": "Page-speed analytics and co-purchase recommendations answered from CouchDB views, "
                           "and ingestion of the shop's logs.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": paths,
        "components": {"schemas": components(), "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer", "description": "the same API key, as a bearer token"},
        }},
    }


def package_version() -> str:
    try:
        return version("couchrec")
    except PackageNotFoundError:
        return "0+unknown"
