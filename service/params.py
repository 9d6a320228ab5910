"""Query-string checking shared by the read endpoints: unknown or malformed parameters are 400s."""

from __future__ import annotations

from typing import Callable, Iterable

from flask import request

from loader.schema import ValidationError, check_value
from service.errors import ApiError

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no")


def reject_unknown(allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown parameter; this endpoint takes: {', '.join(sorted(allowed))}", field=unknown[0])


def choice(name: str, choices: Iterable[str], default: str) -> str:
    value = request.args.get(name, default)
    options = list(choices)
    if value not in options:
        raise ApiError(400, f"must be one of: {', '.join(options)}", field=name)
    return value


def flag(name: str, default: bool) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ApiError(400, "must be true or false", field=name)


def integer(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ApiError(400, f"must be a whole number from {low} to {high}", field=name)
    return int(text)


def schema_value(value: object, kind: str, field: str) -> str:
    """Check a value from the URL, the query or a body against one of the schema's field kinds."""
    try:
        check_value(value, kind, field)
    except ValidationError as exc:
        raise ApiError(400, exc.reason, field=field) from None
    return value


def reference(value: object, field: str) -> str:
    """Check an item or user id: what the schema accepts as an id field."""
    return schema_value(value, "ref", field)


def parsed(name: str, parse: Callable[[str], object]):
    """Parse an optional parameter; a ValueError from `parse` becomes a 400 naming it."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ApiError(400, str(exc), field=name) from None
