"""The one source of log-document fields and validation rules.

`SCHEMA` is plain data. Python interprets it here (`validate_log`); the design-doc
compiler injects the same data into `designdocs/logs/validate_doc_update.js`, a
small interpreter of it in JavaScript, so CouchDB refuses exactly what the
service refuses, with the same message, whoever writes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import datetime, timezone

STORED_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
MAX_ID_LENGTH = 200
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~:@+=-]*$"
MAX_BASKET_ITEMS = 500
MAX_META_BYTES = 2048
MAX_META_DEPTH = 4
MAX_JSON_DEPTH = 16  # a whole request body; deeper is refused before validation

IDENTIFIER_PATTERN = (r"^[^\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                      r"\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\uffff]+$")

FIELD_KINDS = {
    "ref": {
        "type": "string",
        "max_length": 128,
        # No control or invisible formatting characters: CouchDB's ICU collation ignores them, so "a\u200b"
        # and "a" would be one key to every view (tests/test_collation.py).
        "pattern": IDENTIFIER_PATTERN,
        "hint": "must be a non-empty string without control or invisible formatting characters",
    },
    "slug": {
        "type": "string",
        "max_length": 40,
        "pattern": r"^[a-z][a-z0-9_-]*$",
        "hint": "must be a lowercase slug (a-z, 0-9, _ or -, starting with a letter)",
    },
    "timestamp": {
        "type": "string",
        "max_length": 24,
        "pattern": STORED_TIMESTAMP,
        "hint": "must be a UTC timestamp like 2026-11-21T08:30:00.000Z",
    },
    "millis": {"type": "number", "min": 0, "max": 3_600_000},
    "quantity": {"type": "integer", "min": 1, "max": 10_000},
    "price": {"type": "number", "min": 0, "max": 1_000_000_000},
    "cart_action": {"type": "enum", "values": ["add", "remove"]},
    "basket": {"type": "basket", "max_items": MAX_BASKET_ITEMS},
    "meta": {"type": "object", "max_bytes": MAX_META_BYTES, "max_depth": MAX_META_DEPTH},
}

COMMON_FIELDS = {"required": {"log_type": "log_type", "timestamp": "timestamp"}, "optional": {"meta": "meta"}}

LOG_TYPES = {
    "page_view": {
        "required": {"page_type": "slug", "generation_time": "millis"},
        "optional": {"user_id": "ref", "session_id": "ref", "item_id": "ref"},
    },
    "access": {
        "required": {"item_id": "ref"},
        "optional": {"user_id": "ref", "session_id": "ref"},
    },
    "cart": {
        "required": {"cart_id": "ref", "action": "cart_action", "item_id": "ref", "quantity": "quantity"},
        "optional": {"user_id": "ref", "session_id": "ref"},
    },
    "checkout": {
        "required": {"order_id": "ref", "items": "basket"},
        "optional": {"user_id": "ref", "session_id": "ref"},
    },
    "purchase": {
        "required": {"item_id": "ref", "user_id": "ref"},
        "optional": {"order_id": "ref", "session_id": "ref"},
    },
}

BASKET_LINE = {"required": {"item_id": "ref"}, "optional": {"quantity": "quantity", "price": "price"}}

SCHEMA = {
    "id": {"pattern": DOC_ID_PATTERN, "max_length": MAX_ID_LENGTH},
    "common": COMMON_FIELDS,
    "log_types": LOG_TYPES,
    "kinds": FIELD_KINDS,
    "basket_line": BASKET_LINE,
}


# Compiled once: the loader checks every field of every record against these.
COMPILED = {pattern: re.compile(pattern) for pattern in
            [DOC_ID_PATTERN, STORED_TIMESTAMP] + [kind["pattern"] for kind in FIELD_KINDS.values() if "pattern" in kind]}


class ValidationError(ValueError):
    """A log document broke a rule: `field` says where, `reason` says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def as_dict(self) -> dict:
        return {"field": self.field, "reason": self.reason}


def check_doc_id(doc_id: object, field: str = "_id") -> str:
    """Return the id if the ingestion API may write it, else raise ValidationError."""
    if not isinstance(doc_id, str) or not doc_id:
        raise ValidationError(field, "must be a non-empty string")
    if doc_id.startswith("_"):
        raise ValidationError(field, "must not start with _ (reserved for CouchDB's _design/ and _local/ documents)")
    if len(doc_id) > MAX_ID_LENGTH:
        raise ValidationError(field, f"must be at most {MAX_ID_LENGTH} characters")
    if not COMPILED[DOC_ID_PATTERN].fullmatch(doc_id):
        raise ValidationError(field, "may hold only letters, digits and . _ ~ : @ + = -")
    return doc_id


def new_doc_id() -> str:
    return uuid.uuid4().hex


def normalise_timestamp(value: object) -> str:
    """Parse an RFC 3339 date-time and return it in the stored UTC form."""
    if not isinstance(value, str):
        raise ValidationError("timestamp", "must be an RFC 3339 date-time string, e.g. 2026-11-21T08:30:00Z")
    if COMPILED[STORED_TIMESTAMP].fullmatch(value) and valid_moment(value):
        return value  # already in the stored form (a reload, or a generated file): nothing to convert
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("timestamp", "must be an RFC 3339 date-time, e.g. 2026-11-21T08:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValidationError("timestamp", "must carry a time zone (Z or +hh:mm)")
    return format_timestamp(parsed)


def valid_moment(stored: str) -> bool:
    try:
        datetime.fromisoformat(stored[:-1])
    except ValueError:
        return False
    return True


def format_timestamp(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def prepare_log(body: object, *, now: datetime | None = None) -> dict:
    """Turn a client's log object into the stored document (without `_id`), or raise ValidationError.

    The timestamp is normalised to UTC and defaults to `now`; `_id` is the
    caller's business and is removed here; any other `_` field is refused.
    """
    if not isinstance(body, dict):
        raise ValidationError("(document)", "must be a JSON object")
    doc = {name: value for name, value in body.items() if name != "_id"}
    for name in doc:
        if name.startswith("_"):
            raise ValidationError(name, "fields starting with _ are reserved for CouchDB")
    if "timestamp" in doc:
        doc["timestamp"] = normalise_timestamp(doc["timestamp"])
    else:
        doc["timestamp"] = format_timestamp(now or datetime.now(timezone.utc))
    validate_log(doc)
    return doc


def validate_log(doc: dict) -> None:
    """Check a stored-form log document against SCHEMA; raise ValidationError on the first fault."""
    log_type = doc.get("log_type")
    if log_type is None:
        raise ValidationError("log_type", "is required")
    if not isinstance(log_type, str) or log_type not in LOG_TYPES:
        raise ValidationError("log_type", "must be one of: " + ", ".join(sorted(LOG_TYPES)))
    spec = LOG_TYPES[log_type]
    required = {**COMMON_FIELDS["required"], **spec["required"]}
    optional = {**COMMON_FIELDS["optional"], **spec["optional"]}
    check_fields(doc, required, optional, prefix="", owner=f"a {log_type} log")


def check_fields(obj: dict, required: dict, optional: dict, *, prefix: str, owner: str) -> None:
    for name in obj:
        if name.startswith("_") and not prefix:
            continue  # CouchDB's own fields (_id, _rev, ...) on stored documents
        if name not in required and name not in optional:
            raise ValidationError(prefix + name, f"is not a field of {owner}")
    for name, kind in required.items():
        if name not in obj or obj[name] is None:
            raise ValidationError(prefix + name, "is required")
        check_value(obj[name], kind, prefix + name)
    for name, kind in optional.items():
        if name in obj and obj[name] is not None:
            check_value(obj[name], kind, prefix + name)


def check_value(value: object, kind_name: str, field: str) -> None:
    if kind_name == "log_type":
        return  # checked before the spec is chosen
    kind = FIELD_KINDS[kind_name]
    kind_type = kind["type"]
    if kind_type == "string":
        if not isinstance(value, str):
            raise ValidationError(field, "must be a string")
        if len(value) > kind["max_length"]:
            raise ValidationError(field, f"must be at most {kind['max_length']} characters")
        if not COMPILED[kind["pattern"]].fullmatch(value):
            raise ValidationError(field, kind["hint"])
    elif kind_type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValidationError(field, f"must be a{'n integer' if kind_type == 'integer' else ' number'}")
        if kind_type == "integer" and value != math.floor(value):
            raise ValidationError(field, "must be an integer")
        if not kind["min"] <= value <= kind["max"]:
            raise ValidationError(field, f"must be between {kind['min']} and {kind['max']}")
    elif kind_type == "enum":
        if value not in kind["values"]:
            raise ValidationError(field, "must be one of: " + ", ".join(kind["values"]))
    elif kind_type == "object":
        if not isinstance(value, dict):
            raise ValidationError(field, "must be an object")
        if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) > kind["max_bytes"]:
            raise ValidationError(field, f"must be at most {kind['max_bytes']} characters of JSON")
        if json_depth(value) > kind["max_depth"]:
            raise ValidationError(field, f"must nest at most {kind['max_depth']} levels deep")
    elif kind_type == "basket":
        check_basket(value, kind["max_items"], field)


def json_depth(value: object) -> int:
    """How deeply objects and arrays nest: 0 for a scalar, 1 for a flat object or array."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_basket(value: object, max_items: int, field: str) -> None:
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise ValidationError(field, f"must be a list of 1 to {max_items} items")
    for index, line in enumerate(value):
        where = f"{field}[{index}]"
        if isinstance(line, dict):
            check_fields(line, BASKET_LINE["required"], BASKET_LINE["optional"], prefix=where + ".", owner="a basket line")
        elif isinstance(line, str):
            check_value(line, "ref", where)
        else:
            raise ValidationError(where, "must be an item id or an object with item_id")

