"""Query parameters, declared once: the same `Param` reads the request and describes itself in OpenAPI.

Unknown or malformed parameters are 400s that name the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from flask import request
from werkzeug.routing import PathConverter

from loader.logs.schema import ValidationError, check_value
from service.errors import ApiError

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no")


class AnyText(PathConverter):
    """`<text:name>`: like `<path:name>`, but newlines match too, so a bad id meets the id check (a 400
    naming it) instead of falling through to a 404."""

    regex = r"[^/][\s\S]*?"


@dataclass(frozen=True)
class Param:
    """One query parameter: `parse` turns its text into a value or raises ValueError saying why."""

    name: str
    description: str
    schema: dict
    parse: Callable[[str], object]
    default: object = None
    examples: tuple = field(default=())

    def read(self, args) -> object:
        text = args.get(self.name)
        if text is None:
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ApiError(400, str(exc), field=self.name) from None

    def openapi(self) -> dict:
        schema = dict(self.schema)
        if self.default is not None:
            schema["default"] = self.default
        described = {"name": self.name, "in": "query", "required": False,
                     "description": self.description, "schema": schema}
        if self.examples:
            described["example"] = self.examples[0]
        return described


def read_query(params: Iterable[Param]) -> dict:
    """Every declared parameter's value; a parameter the endpoint doesn't declare is a 400."""
    params = list(params)
    names = sorted(param.name for param in params)
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        takes = f"this endpoint takes: {', '.join(names)}" if names else "this endpoint takes no parameters"
        raise ApiError(400, f"unknown parameter; {takes}", field=unknown[0])
    return {param.name: param.read(request.args) for param in params}


def integer(name: str, description: str, default: int | None, low: int, high: int) -> Param:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(text)

    return Param(name, description, {"type": "integer", "minimum": low, "maximum": high}, parse, default)


def choice(name: str, description: str, choices: Iterable[str], default: str) -> Param:
    options = list(choices)

    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return text

    return Param(name, description, {"type": "string", "enum": options}, parse, default)


def flag(name: str, description: str, default: bool) -> Param:
    def parse(text: str) -> bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError("must be true or false")

    return Param(name, description, {"type": "boolean"}, parse, default)


def text(name: str, description: str, parse: Callable[[str], object], schema: dict, example: str) -> Param:
    """A string parameter whose `parse` checks it (and may turn it into something richer)."""
    return Param(name, description, schema, parse, examples=(example,))


def schema_value(value: object, kind: str, field: str) -> str:
    """Check a value from the URL, the query or a body against one of the schema's field kinds."""
    try:
        return kind_checker(kind, field)(value)
    except ValueError as exc:
        raise ApiError(400, str(exc), field=field) from None


def reference(value: object, field: str) -> str:
    """Check an item or user id: what the schema accepts as an id field."""
    return schema_value(value, "ref", field)


def kind_checker(kind: str, field: str) -> Callable[[str], str]:
    """A `parse` for `text()` that accepts what the schema's field kind accepts."""

    def parse(value: object) -> str:
        try:
            check_value(value, kind, field)
        except ValidationError as exc:
            raise ValueError(exc.reason) from None
        return value

    return parse

