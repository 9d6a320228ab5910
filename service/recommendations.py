"""Co-purchase recommendations for an item, a cart and a user."""

from __future__ import annotations

from flask import Blueprint, jsonify

from loader.logs.schema import MAX_BASKET_ITEMS
from loader.recommendations.history import buy_again, cart_for_user, most_bought, new_to_user, read_history
from loader.recommendations.recommend import MAX_SEEDS, Recommendation, recommend
from loader.recommendations.scoring import SCORES
from loader.settings import USER_MODE_CHOICES
from loader.tuning.tuned import MAX_MIN_SUPPORT
from service.bodies import json_body
from service.db import get_lists, get_recommend_settings, get_settings, get_tuning, get_views_when_asked
from service.errors import ApiError
from service.openapi import READS, operation
from service.params import choice, integer, kind_checker, reference, text
from service.schemas import kind_schema

bp = Blueprint("recommendations", __name__)

TUNED = ("Defaults to the tuned setting (`GET /recommendations/tuning`: what `couchrec tune` stored, or its "
         "environment override), else {}.")
OPTIONS = (
    integer("limit", "How many results.", 10, 1, 100),
    choice("score", "How a co-purchase pair is scored (see docs/evaluation.md). " + TUNED.format("confidence"),
           SCORES, None),
    integer("min_support", "Ignore pairs bought together in fewer orders. " + TUNED.format("1"), None, 1,
            MAX_MIN_SUPPORT),
)
CART_ITEMS = text("items", f"The cart: 1 to {MAX_BASKET_ITEMS} item ids, comma-separated (POST a large cart: "
                  "gunicorn refuses request lines over 4094 bytes).", str,
                  {"type": "string", "minLength": 1}, "i1,i2")
CART_OWNER = text("user_id", "The shopper: what they bought before (how often, how recently) is blended with the "
                  "cart's co-purchases, unless COUCHREC_RECOMMEND_BOUGHT=false.", kind_checker("ref", "user_id"),
                  kind_schema("ref"), "u1")
USER_MODE = choice("mode", "buy_again: the user's own past items, most often and most lately bought first; new: "
                   "only items the user never bought. Defaults to COUCHREC_USER_MODE (new unless set).",
                   USER_MODE_CHOICES, None)
ITEM_ID = {"item_id": ("The item's id.", kind_schema("ref"))}
USER_ID = {"user_id": ("The user's id.", kind_schema("ref"))}
ANSWERS = {200: "Recommendations"}
CART_ANSWERS = {200: "CartRecommendations"}
ERRORS = (400, *READS)
CART_RULE = (f"Every cart item is excluded from the answer; the first {MAX_SEEDS} distinct ones (in cart order) "
             "seed the scores, as the co_purchase view pairs the first 50 distinct items of an order. With "
             "`user_id`, each result's `source` says whether the user's history (`times_bought`, `last_bought`) or "
             "the cart's co-purchases (`because`) put it there.")


def seeds_of(items: list[str]) -> list[str]:
    """The items that seed the scores: the first MAX_SEEDS distinct ones, in order."""
    return list(dict.fromkeys(items))[:MAX_SEEDS]


def ask(seeds: list[str], query: dict, exclude: set[str] = frozenset()) -> list[Recommendation]:
    return recommend(get_views_when_asked(), seeds, exclude=exclude, lists=get_lists(), **query)


def answer(seeds: list[str], results: list[Recommendation], query: dict, **extra):
    return jsonify({**extra, "seeds": seeds, **query, "results": [r.as_dict() for r in results]})


def options(query: dict, *, owner: bool = False) -> dict:
    """The request's options, the tuned score and min_support where it names none (the owner's for a cart with
    its user, the cart's otherwise)."""
    tuned = get_recommend_settings()
    fallback = {"score": tuned.owner_score, "min_support": tuned.owner_min_support} if owner else {
        "score": tuned.cart_score, "min_support": tuned.cart_min_support}
    return {param.name: fallback[param.name] if query[param.name] is None else query[param.name]
            for param in OPTIONS}


@bp.get("/recommendations/items/<text:item_id>")
@operation(summary="Customers who bought this item also bought", tag="recommendations", path=ITEM_ID,
           query=OPTIONS, responses=ANSWERS, errors=ERRORS)
def for_item(item_id: str, query: dict):
    item_id = reference(item_id, "item_id")
    return answer([item_id], ask([item_id], options(query)), options(query))


def for_cart(items: object, query: dict, user_id: str | None = None):
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BASKET_ITEMS:
        raise ApiError(400, f"must list 1 to {MAX_BASKET_ITEMS} item ids", field="items")
    cart = [reference(item, f"items[{index}]") for index, item in enumerate(items)]
    seeds = seeds_of(cart)
    if user_id is None:
        return answer(seeds, ask(seeds, options(query), exclude=set(cart)), options(query))
    views = get_views_when_asked()
    history = read_history(views, user_id)
    tuned = get_recommend_settings()
    results = cart_for_user(views, seeds, history, exclude=set(cart), recommend_bought=get_settings().recommend_bought,
                            weight=tuned.weight, half_life=tuned.half_life, lists=get_lists(),
                            **options(query, owner=True))
    return answer(seeds, results, options(query, owner=True), user_id=user_id, purchased_items=len(history))


@bp.get("/recommendations/cart")
@operation(summary="Items to add to a cart", tag="recommendations", description=CART_RULE,
           query=(CART_ITEMS, CART_OWNER, *OPTIONS), responses=CART_ANSWERS, errors=ERRORS)
def for_cart_in_query(query: dict):
    return for_cart([item for item in (query["items"] or "").split(",") if item], query, query["user_id"])


@bp.post("/recommendations/cart")
@operation(summary="Items to add to a cart (the cart in the body)", tag="recommendations",
           description=CART_RULE, body={"application/json": {"$ref": "#/components/schemas/Cart"}},
           query=OPTIONS, responses=CART_ANSWERS, errors=(413, *ERRORS))
def for_cart_in_body(query: dict):
    body = json_body()
    if not isinstance(body, dict) or "items" not in body or not set(body) <= {"items", "user_id"}:
        raise ApiError(400, 'send a JSON object {"items": ["item id", ...], "user_id"?: "user id"}', field="items")
    user_id = reference(body["user_id"], "user_id") if "user_id" in body else None
    return for_cart(body["items"], query, user_id)


@bp.get("/recommendations/users/<text:user_id>")
@operation(summary="Items for a user, from what they bought", tag="recommendations",
           description="mode=new: co-purchases of the user's 50 most bought items, nothing already bought. "
                       "mode=buy_again: the user's own items (source history) by purchases, each halved every "
                       "half-life (tuned, else 30 days) before the user's latest; past those, what new gives. buy_again needs "
                       "COUCHREC_RECOMMEND_BOUGHT=true.", path=USER_ID, query=(USER_MODE, *OPTIONS),
           responses={200: "UserRecommendations"}, errors=ERRORS)
def for_user(user_id: str, query: dict):
    user_id = reference(user_id, "user_id")
    mode = query["mode"] or get_settings().user_mode
    if mode == "buy_again" and not get_settings().recommend_bought:
        raise ApiError(400, "buy_again is off here: this shop does not recommend what a user bought "
                            "(COUCHREC_RECOMMEND_BOUGHT=false)", field="mode")
    views = get_views_when_asked()
    history = read_history(views, user_id)
    if mode == "buy_again":
        results = buy_again(views, history, half_life=get_recommend_settings().half_life, lists=get_lists(),
                            **options(query))
    else:
        results = new_to_user(views, history, lists=get_lists(), **options(query))
    return answer(seeds_of(most_bought(history)), results, options(query), user_id=user_id, mode=mode,
                  purchased_items=len(history))


@bp.get("/recommendations/tuning")
@operation(summary="The recommendation settings in force, and the last tuning's table", tag="recommendations",
           description="`settings`: what ranks carts alone (`cart_*`, also items and mode=new) and with their owner "
                       "(`owner_*`, the history's `weight` and `half_life` in days); `sources` says, per setting, "
                       "whether it comes from the environment, the tuning `couchrec tune` stored, or the default. "
                       "`report`: that tuning's table (hit-rate@k and MRR with 95 % intervals) and sample. "
                       "`refused`: why a stored tuning was not taken (the previous settings stay).",
           responses={200: "Tuning"}, errors=READS)
def tuning():
    tuned = get_tuning()
    settings = tuned.current()
    return jsonify({"settings": settings.as_dict(), "sources": tuned.sources(), "refused": tuned.refused,
                    "report": (tuned.document or {}).get("report")})
