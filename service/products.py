"""Product lists: popular items, and items viewed together."""

from __future__ import annotations

from flask import Blueprint, jsonify

from loader.recommendations.recommend import POPULAR_KINDS, also_viewed, popular
from service.db import get_views
from service.openapi import READS, operation
from service.params import choice, integer, reference
from service.recommendations import ITEM_ID

bp = Blueprint("products", __name__)

LIMIT = integer("limit", "How many results.", 10, 1, 100)


@bp.get("/products/popular")
@operation(summary="The most bought (or viewed) items", tag="products",
           description="Over all time, or the last `days` days that have data.",
           query=(LIMIT, choice("by", "Count purchases or views.", POPULAR_KINDS, "purchases"),
                  integer("days", "Only the last this many days that have data; all time when left out.",
                          None, 1, 3650)),
           responses={200: "PopularProducts"}, errors=(400, *READS))
def popular_products(query: dict):
    items = popular(get_views(), kind=query["by"], days=query["days"], limit=query["limit"])
    return jsonify({**query, "results": [{"item_id": item, "count": count} for item, count in items]})


@bp.get("/products/<text:item_id>/also-viewed")
@operation(summary="Items viewed in the same sessions as this one", tag="products", path=ITEM_ID,
           query=(LIMIT,), responses={200: "AlsoViewed"}, errors=(400, *READS))
def also_viewed_products(item_id: str, query: dict):
    item_id = reference(item_id, "item_id")
    results = also_viewed(get_views(), item_id, limit=query["limit"])
    return jsonify({"item_id": item_id, "limit": query["limit"], "results": [r.as_dict() for r in results]})
