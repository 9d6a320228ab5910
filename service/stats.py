"""Page generation-time analytics: GET /stats/page-times."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from loader.couchdb.couch import CouchError
from loader.pages import pagesummaries
from loader.pages.pagetimes import GROUP_LEVELS, RELATIVE_ERROR, Bound, ViewAnswerError
from service.db import get_summaries, get_views, get_views_when_asked
from service.errors import RETRY_AFTER_SECONDS, ApiError
from service.openapi import operation
from service.params import choice, flag, kind_checker, text
from service.schemas import kind_schema

bp = Blueprint("stats", __name__)

BOUND = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2})?$"}
QUERY = (
    choice("by", "Group by page type, or by page type and day or hour (UTC).", GROUP_LEVELS, "page_type"),
    text("page_type", "Only this page type.", kind_checker("slug", "page_type"), kind_schema("slug"), "product"),
    text("from", "First day or hour included: YYYY-MM-DD or YYYY-MM-DDTHH (UTC).", Bound.parse, BOUND, "2026-11-01"),
    text("to", "Last day or hour included: YYYY-MM-DD or YYYY-MM-DDTHH (UTC).", Bound.parse, BOUND, "2026-11-30"),
    flag("percentiles", "Compute p50/p95/p99 (from the builtin `_sum` histogram); false reads only the `_stats` view.", True),
)


@bp.get("/stats/page-times")
@operation(summary="Page generation time per page type, day or hour", tag="analytics",
           description="Count, avg, min, max, stddev and p50/p95/p99 (within `percentile_relative_error`). "
                       "`by=day` and `by=hour` are read from the page-time summaries that `couchrec worker` keeps "
                       "(the days changed since, from the views) when they exist and lag by fewer than 1,000 page "
                       "views; otherwise, and for `by=page_type`, from the views. `source` says which.",
           responses={200: "PageTimes"}, query=QUERY, errors=(400, 503))
def page_times(query: dict):
    start, end = query["from"], query["to"]
    if start and end and start.first_hour() > end.last_hour():
        raise ApiError(400, "must not come after `to`", field="from")
    asked = dict(by=query["by"], page_type=query["page_type"], start=start, end=end, percentiles=query["percentiles"])
    try:
        groups, source = pagesummaries.page_times(get_summaries(), get_views_when_asked(), get_views, **asked)
    except (CouchError, ViewAnswerError) as exc:
        # An index still building (CouchDB's 500 timeout), design docs not installed yet, a reduce
        # that failed: the database cannot answer this now, and a retry later can succeed.
        current_app.logger.error("page times: %s", exc)
        raise ApiError(503, "the database could not answer page times now; retry later", error="database_unavailable",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    return jsonify({
        "by": query["by"],
        "page_type": query["page_type"],
        "from": request.args.get("from"),
        "to": request.args.get("to"),
        "percentile_relative_error": RELATIVE_ERROR if query["percentiles"] else None,
        "source": source,
        "groups": groups,
    })
