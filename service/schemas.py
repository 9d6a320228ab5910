"""JSON Schemas of the API's bodies, for the OpenAPI document.

The log schemas are generated from `loader.logs.schema.SCHEMA`, the same data the
service and `validate_doc_update` enforce; the answer schemas are checked
against real answers by tests/test_openapi.py.
"""

from __future__ import annotations

from loader.logs.schema import BASKET_LINE, COMMON_FIELDS, FIELD_KINDS, LOG_TYPES, MAX_BASKET_ITEMS, SCHEMA
from loader.pages.pagetimes import QUANTILES
from loader.recommendations.scoring import SCORES
from loader.settings import USER_MODE_CHOICES

NUMBER = {"type": "number"}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict, *, optional: tuple = (), description: str | None = None) -> dict:
    """A closed object whose properties are all required but the `optional` ones."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional], "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def kind_schema(kind_name: str) -> dict:
    """The JSON Schema of one field kind of SCHEMA, as a client sends it."""
    if kind_name == "timestamp":  # any RFC 3339 date-time; stored normalised to UTC milliseconds
        return {"type": "string", "format": "date-time", "description": "RFC 3339; defaults to the time of arrival"}
    kind = FIELD_KINDS[kind_name]
    if kind["type"] == "string":
        return {"type": "string", "minLength": 1, "maxLength": kind["max_length"], "pattern": kind["pattern"]}
    if kind["type"] in ("number", "integer"):
        return {"type": kind["type"], "minimum": kind["min"], "maximum": kind["max"]}
    if kind["type"] == "enum":
        return {"type": "string", "enum": kind["values"]}
    if kind["type"] == "object":
        return {"type": "object", "description": f"free-form, at most {kind['max_bytes']} characters of JSON"}
    line = fields_schema(BASKET_LINE["required"], BASKET_LINE["optional"])
    return {"type": "array", "minItems": 1, "maxItems": kind["max_items"],
            "items": {"oneOf": [kind_schema("ref"), line]}, "description": "item ids, or lines with item_id"}


def fields_schema(required: dict, optional: dict, *, extra: dict | None = None) -> dict:
    properties = {name: kind_schema(kind) for name, kind in {**required, **optional}.items()}
    properties.update(extra or {})
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def doc_id_schema() -> dict:
    return {"type": "string", "minLength": 1, "maxLength": SCHEMA["id"]["max_length"],
            "pattern": SCHEMA["id"]["pattern"]}


def log_schema(log_type: str) -> dict:
    spec = LOG_TYPES[log_type]
    required = {name: kind for name, kind in spec["required"].items()}
    optional = {**COMMON_FIELDS["optional"], **spec["optional"], "timestamp": "timestamp"}
    schema = fields_schema(required, optional, extra={"log_type": {"const": log_type}, "_id": doc_id_schema()})
    schema["required"] = ["log_type", *schema["required"]]
    return schema


def log_schemas() -> dict:
    logs = {f"{log_type.title().replace('_', '')}Log": log_schema(log_type) for log_type in LOG_TYPES}
    return {**logs, "Log": {"oneOf": [ref(name) for name in logs],
                            "description": "One log entry; `_id` is optional (only in bulk bodies and PUT)."}}


def recommendation() -> dict:
    return obj({
        "item_id": TEXT,
        "score": nullable({**NUMBER, "description": "null for popular backfill"}),
        "support": {**COUNT, "description": "orders (or sessions) holding the item with its seeds"},
        "because": {"type": "array", "items": TEXT, "description": "the seeds (cart items) that led to it"},
        "source": {"type": "string", "enum": ["co_purchase", "co_view", "popular", "history"],
                   "description": "history: the user bought it before (support is then the user's orders holding it)"},
        "times_bought": {**COUNT, "description": "orders of this user that held it (only for items the user bought)"},
        "last_bought": {"type": "string", "format": "date", "description": "the day the user last bought it (UTC)"},
    }, optional=("times_bought", "last_bought"))


def recommendations(*extra_names: str, optional: tuple = ()) -> dict:
    properties = {
        "seeds": {"type": "array", "items": TEXT},
        "limit": COUNT, "score": {"type": "string", "enum": list(SCORES)}, "min_support": COUNT,
        "results": {"type": "array", "items": ref("Recommendation")},
    }
    extra = {"user_id": TEXT, "purchased_items": COUNT, "mode": {"type": "string", "enum": list(USER_MODE_CHOICES)}}
    return obj({**{name: extra[name] for name in extra_names}, **properties}, optional=optional)


def tuning() -> dict:
    score = {"type": "string", "enum": list(SCORES)}
    support = {"type": "integer", "minimum": 1}
    settings = obj({"cart_score": score, "cart_min_support": support, "owner_score": score,
                    "owner_min_support": support, "weight": {**NUMBER, "minimum": 0, "maximum": 1},
                    "half_life": nullable({**NUMBER, "description": "days; null: no decay"})})
    source = {"type": "string", "enum": ["environment", "stored", "default"]}
    return obj({"settings": settings, "sources": obj({name: source for name in settings["properties"]}),
                "refused": nullable(TEXT),
                "report": {"type": ["object", "null"], "description": "the last `couchrec tune` run's report: "
                           "`table` (ranking, hit_rate, hit_rate_ci, mrr, mrr_ci), `chosen`, the sample and timings"}})


def page_time_group() -> dict:
    figures = {"count": COUNT, "avg": NUMBER, "min": NUMBER, "max": NUMBER, "stddev": NUMBER}
    quantiles = {name: nullable(NUMBER) for name in QUANTILES}
    return obj({"page_type": TEXT, "day": {"type": "string", "format": "date"}, "hour": TEXT,
                **figures, **quantiles}, optional=("day", "hour"))


def outcome() -> dict:
    return obj({"index": COUNT, "id": nullable(TEXT), "status": {"type": "string", "enum": list(OUTCOMES)},
                "field": TEXT, "reason": TEXT}, optional=("field", "reason"))


OUTCOMES = ("created", "present", "conflict", "rejected", "failed")


def components() -> dict:
    """Every named schema the OpenAPI document refers to."""
    return {
        **log_schemas(),
        "Error": obj({"error": TEXT, "message": TEXT, "field": TEXT}, optional=("field",),
                     description="Every error answer; `field` names the parameter or document field at fault."),
        "Stored": obj({"id": TEXT, "status": {"type": "string", "enum": ["created", "present"]}}),
        "BulkOutcome": outcome(),
        "BulkResult": obj({**{name: COUNT for name in OUTCOMES},
                           "results": {"type": "array", "items": ref("BulkOutcome")}}),
        "PageTimeGroup": page_time_group(),
        "PageTimes": obj({
            "by": {"type": "string", "enum": ["page_type", "day", "hour"]},
            "page_type": nullable(TEXT), "from": nullable(TEXT), "to": nullable(TEXT),
            "percentile_relative_error": nullable(NUMBER),
            "source": {"type": "string", "enum": ["summaries", "views"]},
            "groups": {"type": "array", "items": ref("PageTimeGroup")},
        }),
        "Recommendation": recommendation(),
        "Recommendations": recommendations(),
        "UserRecommendations": recommendations("user_id", "mode", "purchased_items"),
        "CartRecommendations": recommendations("user_id", "purchased_items", optional=("user_id", "purchased_items")),
        "Cart": obj({"items": {"type": "array", "items": kind_schema("ref"), "minItems": 1,
                               "maxItems": MAX_BASKET_ITEMS},
                     "user_id": {**kind_schema("ref"), "description": "the shopper, to blend in what they bought before"}},
                    optional=("user_id",)),
        "PopularProducts": obj({
            "by": {"type": "string", "enum": ["purchases", "views"]}, "days": nullable(COUNT), "limit": COUNT,
            "results": {"type": "array", "items": obj({"item_id": TEXT, "count": COUNT})},
        }),
        "AlsoViewed": obj({"item_id": TEXT, "limit": COUNT,
                           "results": {"type": "array", "items": ref("Recommendation")}}),
        "Tuning": tuning(),
        "Health": obj({"status": {"const": "ok"}}),
        "NeighboursLag": obj({"lists": {"type": "string", "enum": ["present", "absent"]},
                              "pending_changes": nullable(COUNT), "checkpoint_age_s": nullable(NUMBER)}),
        "PageTimesLag": obj({"summaries": {"type": "string", "enum": ["present", "absent"]},
                             "pending_changes": nullable(COUNT), "checkpoint_age_s": nullable(NUMBER)}),
        "Readiness": obj({"status": {"type": "string", "enum": ["ok", "unavailable"]},
                          "database": {"type": "string", "enum": ["reachable", "unreachable"]},
                          "design_docs": TEXT, "stale_design_docs": {"type": "array", "items": TEXT},
                          "reason": TEXT, "warnings": {"type": "array", "items": TEXT}},
                         optional=("design_docs", "stale_design_docs", "reason", "warnings")),
    }
