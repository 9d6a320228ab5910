"""What a browser reads: the dashboard, the API docs, the OpenAPI document and their assets.

Third-party assets (Chart.js, Swagger UI) come from npm (web/package-lock.json)
and are served from this machine, so the pages work offline.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, send_from_directory

from loader.recommendations.recommend import DEFAULT_SCORE
from loader.recommendations.scoring import SCORES
from service.db import get_settings
from service.errors import ApiError
from service.openapi import openapi_document, operation

bp = Blueprint("pages", __name__)

OWN_ASSETS = Path(__file__).parent / "static"
VENDOR_FILES = {
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
FILE_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9._-]+$"}


@bp.get("/")
@operation(summary="The shop dashboard (HTML)", tag="pages", access="public", responses={200: "text/html"})
def dashboard():
    return render_template("dashboard.html", scores={"scores": list(SCORES), "default": DEFAULT_SCORE})


@bp.get("/docs")
@operation(summary="This API's documentation, browsable (HTML)", tag="pages", access="public", responses={200: "text/html"})
def docs():
    return render_template("docs.html")


@bp.get("/openapi.json")
@operation(summary="This OpenAPI document", tag="pages", access="public", responses={200: "application/json"})
def openapi():
    return jsonify(openapi_document(current_app))


@bp.get("/assets/<path:filename>")
@operation(summary="The dashboard's own scripts and styles", tag="pages", access="public",
           path={"filename": ("A file of service/static.", FILE_NAME)}, responses={200: "*/*"}, errors=(404,))
def asset(filename: str):
    return send_from_directory(OWN_ASSETS, filename)


@bp.get("/vendor/<name>")
@operation(summary="A third-party front-end file installed from npm", tag="pages", access="public",
           path={"name": ("One of: " + ", ".join(VENDOR_FILES), {"type": "string", "enum": list(VENDOR_FILES)})},
           responses={200: "*/*"}, errors=(404,))
def vendor(name: str):
    if name not in VENDOR_FILES:
        raise ApiError(404, f"no such file; served here: {', '.join(VENDOR_FILES)}", field="name", error="not_found")
    path = Path(get_settings().web_assets) / VENDOR_FILES[name]
    if not path.is_file():
        raise ApiError(404, f"{path} is not installed; run scripts/setup (npm ci --prefix web)", field="name",
                       error="not_found")
    return send_from_directory(path.parent, path.name)
