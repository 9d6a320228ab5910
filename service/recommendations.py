"""Co-purchase recommendations for an item, a cart and a user."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from loader.recommend import DEFAULT_MIN_SUPPORT, DEFAULT_SCORE, MAX_SEEDS, Recommendation, recommend, user_history
from loader.scoring import SCORES
from service.db import get_views
from service.errors import ApiError
from service.params import choice, integer, reference, reject_unknown

bp = Blueprint("recommendations", __name__)

OPTIONS = ("limit", "score", "min_support")


def options() -> dict:
    return {
        "limit": integer("limit", 10, 1, 100),
        "score": choice("score", SCORES, DEFAULT_SCORE),
        "min_support": integer("min_support", DEFAULT_MIN_SUPPORT, 1, 1_000_000),
    }


def answer(seeds: list[str], results: list[Recommendation], chosen: dict, **extra):
    return jsonify({**extra, "seeds": seeds, **chosen, "results": [r.as_dict() for r in results]})


@bp.get("/recommendations/items/<path:item_id>")
def for_item(item_id: str):
    """Customers who bought this item also bought these."""
    reject_unknown(OPTIONS)
    chosen = options()
    item_id = reference(item_id, "item_id")
    return answer([item_id], recommend(get_views(), [item_id], **chosen), chosen)


@bp.route("/recommendations/cart", methods=["GET", "POST"])
def for_cart():
    """Items to add to a cart: `?items=a,b,c`, or POST {"items": [...]}; cart items are never recommended."""
    if request.method == "GET":
        reject_unknown(("items",) + OPTIONS)
        items = [item for item in request.args.get("items", "").split(",") if item]
    else:
        reject_unknown(OPTIONS)
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ApiError(400, 'send a JSON object {"items": ["item id", ...]}', field="items")
        items = body["items"]
    chosen = options()
    if not 1 <= len(items) <= MAX_SEEDS:
        raise ApiError(400, f"must list 1 to {MAX_SEEDS} item ids", field="items")
    cart = [reference(item, f"items[{index}]") for index, item in enumerate(items)]
    return answer(cart, recommend(get_views(), cart, **chosen), chosen)


@bp.get("/recommendations/users/<path:user_id>")
def for_user(user_id: str):
    """Items for a signed-in user, from what they bought; nothing they already bought."""
    reject_unknown(OPTIONS)
    chosen = options()
    user_id = reference(user_id, "user_id")
    views = get_views()
    history = user_history(views, user_id)
    results = recommend(views, history[:MAX_SEEDS], exclude=set(history), **chosen)
    return answer(history[:MAX_SEEDS], results, chosen, user_id=user_id, purchased_items=len(history))
