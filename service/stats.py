"""Page generation-time analytics: GET /stats/page-times."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from loader.pagetimes import GROUP_LEVELS, RELATIVE_ERROR, Bound, page_time_groups
from service.db import get_views
from service.errors import ApiError
from service.openapi import READS, operation
from service.params import choice, flag, kind_checker, text
from service.schemas import kind_schema

bp = Blueprint("stats", __name__)

BOUND = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2})?$"}
QUERY = (
    choice("by", "Group by page type, or by page type and day or hour (UTC).", GROUP_LEVELS, "page_type"),
    text("page_type", "Only this page type.", kind_checker("slug", "page_type"), kind_schema("slug"), "product"),
    text("from", "First day or hour included: YYYY-MM-DD or YYYY-MM-DDTHH (UTC).", Bound.parse, BOUND, "2026-11-01"),
    text("to", "Last day or hour included: YYYY-MM-DD or YYYY-MM-DDTHH (UTC).", Bound.parse, BOUND, "2026-11-30"),
    flag("percentiles", "Compute p50/p95/p99 (the JS sketch); false reads the builtin `_stats` twin.", True),
)


@bp.get("/stats/page-times")
@operation(summary="Page generation time per page type, day or hour", tag="analytics",
           description="Count, avg, min, max, stddev and p50/p95/p99 (within `percentile_relative_error`).",
           responses={200: "PageTimes"}, query=QUERY, errors=(400, *READS))
def page_times(query: dict):
    start, end = query["from"], query["to"]
    if start and end and start.first_hour() > end.last_hour():
        raise ApiError(400, "must not come after `to`", field="from")
    groups = page_time_groups(get_views(), by=query["by"], page_type=query["page_type"], start=start, end=end,
                              percentiles=query["percentiles"])
    return jsonify({
        "by": query["by"],
        "page_type": query["page_type"],
        "from": request.args.get("from"),
        "to": request.args.get("to"),
        "percentile_relative_error": RELATIVE_ERROR if query["percentiles"] else None,
        "groups": groups,
    })
