"""Page generation-time analytics read from `_design/pages`.

The `generation_time` view's reduce returns a mergeable summary with a
log-bucket histogram; this module turns it into count, avg, min, max, stddev
and p50/p95/p99. `generation_time_stats` (builtin `_stats`, same map) answers
the same without percentiles, computed in Erlang: the fast path.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from loader.couch import carry_deadline
from loader.viewcache import ViewCache

DDOC = "pages"
SKETCH_VIEW = "generation_time"
STATS_VIEW = "generation_time_stats"
GROUP_LEVELS = {"page_type": 1, "day": 4, "hour": 5}
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
BOUND_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$")
# The sketch in designdocs/pages/views/generation_time/reduce.js: GAMMA = 1.02 / 0.98.
RELATIVE_ERROR = 0.02


class ViewAnswerError(RuntimeError):
    """The view answered, but not with a summary (PouchDB Server turns a failing reduce into null)."""


@dataclass(frozen=True)
class Bound:
    """A day, or an hour of a day, in UTC: the prefix of a view key after the page type."""

    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> "Bound":
        """Parse YYYY-MM-DD or YYYY-MM-DDTHH; raise ValueError with the expected form."""
        match = BOUND_PATTERN.match(text)
        if not match:
            raise ValueError("must be a date YYYY-MM-DD or an hour YYYY-MM-DDTHH (UTC)")
        parts = tuple(int(p) for p in match.groups() if p is not None)
        try:
            datetime(*parts)
        except ValueError:
            raise ValueError("is not a real date or hour") from None
        return cls(parts)

    def first_hour(self) -> tuple[int, ...]:
        return self.parts if len(self.parts) == 4 else (*self.parts, 0)

    def last_hour(self) -> tuple[int, ...]:
        return self.parts if len(self.parts) == 4 else (*self.parts, 23)

    def start_key(self, page_type: str) -> list:
        return [page_type, *self.parts]

    def end_key(self, page_type: str) -> list:
        """The last key inside this bound: a whole day ends after its hour 23."""
        return [page_type, *self.parts] + ([] if len(self.parts) == 4 else [{}])


def summarise(value: dict) -> dict:
    """Turn a sketch or `_stats` value into the published figures."""
    if not isinstance(value, dict) or not value.get("count"):
        raise ViewAnswerError(f"the view returned {value!r} instead of a summary; its reduce failed on the database")
    count = value["count"]
    mean = value["sum"] / count
    variance = max(0.0, value["sumsqr"] / count - mean * mean)
    figures = {"count": count, "avg": mean, "min": value["min"], "max": value["max"], "stddev": math.sqrt(variance)}
    for name, q in QUANTILES.items():
        figures[name] = round(quantile(value, q), 3) if "buckets" in value else None
    return figures


def quantile(sketch: dict, q: float) -> float:
    """The value at rank floor(q * (count - 1)), within the sketch's relative error."""
    rank = math.floor(q * (sketch["count"] - 1))
    seen = sketch["zero"]
    if rank < seen:
        return 0.0
    gamma = sketch["gamma"]
    for index in sorted(sketch["buckets"], key=int):
        seen += sketch["buckets"][index]
        if seen > rank:
            estimate = 2 * gamma ** int(index) / (gamma + 1)
            return min(max(estimate, sketch["min"]), sketch["max"])
    return sketch["max"]


def group_fields(key: list, by: str) -> dict:
    """Name the parts of a grouped key: page type, and the day or hour."""
    fields = {"page_type": key[0]}
    if by in ("day", "hour"):
        fields["day"] = f"{key[1]:04d}-{key[2]:02d}-{key[3]:02d}"
    if by == "hour":
        fields["hour"] = f"{fields['day']}T{key[4]:02d}:00Z"
    return fields


def page_types(views: ViewCache) -> list[str]:
    rows = views.query(DDOC, STATS_VIEW, group_level=1)["rows"]
    return [row["key"][0] for row in rows]


def page_time_groups(
    views: ViewCache,
    *,
    by: str,
    page_type: str | None = None,
    start: Bound | None = None,
    end: Bound | None = None,
    percentiles: bool = True,
) -> list[dict]:
    """Return the figures for each group of page views, in key order."""
    view = SKETCH_VIEW if percentiles else STATS_VIEW
    level = GROUP_LEVELS[by]

    def query(**bounds) -> list[dict]:
        return views.query(DDOC, view, group_level=level, **bounds)["rows"]

    if start is None and end is None:
        bounds = {"startkey": [page_type], "endkey": [page_type, {}]} if page_type else {}
        rows = query(**bounds)
    else:
        types = [page_type] if page_type else page_types(views)
        ranges = [
            {"startkey": start.start_key(t) if start else [t], "endkey": end.end_key(t) if end else [t, {}]}
            for t in types
        ]
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(ranges)))) as pool:
            rows = [row for answer in pool.map(carry_deadline(lambda r: query(**r)), ranges) for row in answer]
    return [{**group_fields(row["key"], by), **summarise(row["value"])} for row in rows]
