"""Request bodies as JSON, within limits: no NaN or Infinity, nesting at most MAX_JSON_DEPTH deep."""

from __future__ import annotations

import json

from flask import request

from loader.logs.schema import MAX_JSON_DEPTH, json_depth
from service.errors import ApiError

BODY = "(body)"


def parse_json(text: str) -> object:
    """Parse one JSON text; raise ValueError saying what is wrong with it."""
    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def json_body() -> object:
    """The request body parsed as JSON, whatever Content-Type the client sent."""
    text = request.get_data(as_text=True)
    if not text.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", field=BODY)
    try:
        return parse_json(text)
    except ValueError as exc:
        raise ApiError(400, f"not valid JSON: {exc}", field=BODY) from None
