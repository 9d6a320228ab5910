"""Page generation-time analytics: GET /stats/page-times."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from loader.pagetimes import GROUP_LEVELS, RELATIVE_ERROR, Bound, page_time_groups
from service.db import get_couch, get_settings
from service.errors import ApiError
from service.params import choice, flag, parsed, reject_unknown, schema_value

bp = Blueprint("stats", __name__)


@bp.get("/stats/page-times")
def page_times():
    """Count, avg, min, max, stddev and p50/p95/p99 of generation time per page type, day or hour."""
    reject_unknown(["by", "page_type", "from", "to", "percentiles"])
    by = choice("by", GROUP_LEVELS, "page_type")
    page_type = request.args.get("page_type")
    if page_type is not None:
        schema_value(page_type, "slug", "page_type")
    start = parsed("from", Bound.parse)
    end = parsed("to", Bound.parse)
    if start and end and start.first_hour() > end.last_hour():
        raise ApiError(400, "must not come after `to`", field="from")
    percentiles = flag("percentiles", True)
    groups = page_time_groups(
        get_couch(), by=by, page_type=page_type, start=start, end=end,
        percentiles=percentiles, update=get_settings().view_update,
    )
    return jsonify({
        "by": by,
        "page_type": page_type,
        "from": request.args.get("from"),
        "to": request.args.get("to"),
        "percentile_relative_error": RELATIVE_ERROR if percentiles else None,
        "groups": groups,
    })
