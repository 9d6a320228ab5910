"""Product lists: popular items, and items viewed together."""

from __future__ import annotations

from flask import Blueprint, jsonify

from loader.recommend import POPULAR_KINDS, also_viewed, popular
from service.db import get_views
from service.params import choice, integer, reference, reject_unknown

bp = Blueprint("products", __name__)


@bp.get("/products/popular")
def popular_products():
    """The most bought (or viewed) items, over all time or the last `days` days that have data."""
    reject_unknown(("limit", "days", "by"))
    limit = integer("limit", 10, 1, 100)
    by = choice("by", POPULAR_KINDS, "purchases")
    days = integer("days", 0, 1, 3650) or None
    items = popular(get_views(), kind=by, days=days, limit=limit)
    return jsonify({"by": by, "days": days, "limit": limit,
                    "results": [{"item_id": item, "count": count} for item, count in items]})


@bp.get("/products/<path:item_id>/also-viewed")
def also_viewed_products(item_id: str):
    """Items viewed in the same sessions as this one."""
    reject_unknown(("limit",))
    limit = integer("limit", 10, 1, 100)
    item_id = reference(item_id, "item_id")
    results = also_viewed(get_views(), item_id, limit=limit)
    return jsonify({"item_id": item_id, "limit": limit, "results": [r.as_dict() for r in results]})
