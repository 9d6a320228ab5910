"""Page generation-time analytics read from `_design/pages`, all reduced by builtins.

`generation_time_stats` (`_stats`) gives count, sum, sumsqr, min and max exactly;
`generation_time_histogram` (`_sum` over one-count log-bucket histograms) gives
the percentiles within RELATIVE_ERROR. Both are computed in Erlang on CouchDB;
a grouped query asks both at once. The JS sketch in `_design/pages_sketch` (the
mission's rereduce) is read the same way by `sketch_buckets`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from loader.couchdb.couch import carry_deadline
from loader.couchdb.viewcache import ViewCache

DDOC = "pages"
HISTOGRAM_VIEW = "generation_time_histogram"
STATS_VIEW = "generation_time_stats"
GROUP_LEVELS = {"page_type": 1, "day": 4, "hour": 5}
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
BOUND_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$")
RELATIVE_ERROR = 0.02
# The histogram's fixed window, injected into its map by loader/designdocs/deploy.py: bucket b holds
# (gamma^(b+lowest-1), gamma^(b+lowest)]. 256 buckets keep a group's `_sum` within 4,763 bytes of
# Erlang term while each bucket holds under 2^48 views, below the builtin reduce_limit (4,906); they span
# 0.49 ms to 13.6 s; times outside count in the edge buckets (see docs/decisions.md).
HISTOGRAM = {"gamma": (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR), "lowest": -17, "buckets": 256}
MAX_PARALLEL_QUERIES = 12


class ViewAnswerError(RuntimeError):
    """The view answered, but not with a summary (PouchDB Server turns a failing reduce into null,
    CouchDB a `_sum` past reduce_limit into {"error": "builtin_reduce_error"})."""


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

    @property
    def hour(self) -> int | None:
        return self.parts[3] if len(self.parts) == 4 else None

    def day(self) -> str:
        return "{:04d}-{:02d}-{:02d}".format(*self.parts[:3])

    def first_hour(self) -> tuple[int, ...]:
        return self.parts if len(self.parts) == 4 else (*self.parts, 0)

    def last_hour(self) -> tuple[int, ...]:
        return self.parts if len(self.parts) == 4 else (*self.parts, 23)

    def start_key(self, page_type: str) -> list:
        return [page_type, *self.parts]

    def end_key(self, page_type: str) -> list:
        """The last key inside this bound: a whole day ends after its hour 23."""
        return [page_type, *self.parts] + ([] if len(self.parts) == 4 else [{}])


def summarise(stats: dict, buckets: list[tuple[float, int]] | None) -> dict:
    """Turn `_stats` figures (or a JS sketch) and its buckets into the published figures.

    `buckets`: (representative value, count) in value order, or None for no percentiles.
    """
    if not isinstance(stats, dict) or not stats.get("count") or "error" in stats:
        raise ViewAnswerError(f"the view returned {stats!r} instead of a summary; its reduce failed on the database")
    count = stats["count"]
    mean = stats["sum"] / count
    variance = max(0.0, stats["sumsqr"] / count - mean * mean)
    figures = {"count": count, "avg": mean, "min": stats["min"], "max": stats["max"], "stddev": math.sqrt(variance)}
    estimates = quantiles(buckets, stats["min"], stats["max"]) if buckets is not None else dict.fromkeys(QUANTILES)
    return {**figures, **estimates}


def quantiles(buckets: list[tuple[float, int]], low: float, high: float) -> dict[str, float]:
    """p50/p95/p99: the value at rank floor(q * (n - 1)), within the buckets' relative error,
    kept inside [low, high] (the exact min and max); one pass over the buckets."""
    total = sum(count for _, count in buckets)
    wanted = sorted((math.floor(q * (total - 1)), name) for name, q in QUANTILES.items())
    found = dict.fromkeys(QUANTILES, round(high, 3))
    seen, next_wanted = 0, 0
    for value, count in buckets:
        seen += count
        while next_wanted < len(wanted) and seen > wanted[next_wanted][0]:
            found[wanted[next_wanted][1]] = round(min(max(value, low), high), 3)
            next_wanted += 1
        if next_wanted == len(wanted):
            break
    return found


def bucket_value(index: int, gamma: float) -> float:
    """The value reported for bucket (gamma^(index-1), gamma^index]: within (gamma-1)/(gamma+1) of all of it."""
    return 2 * gamma ** index / (gamma + 1)


def histogram_buckets(value: dict | list) -> list[tuple[float, int]]:
    """The buckets of a `generation_time_histogram` answer, in either form (object or array)."""
    if isinstance(value, dict) and "error" not in value:
        counts = {int(b): n for b, n in value.items()}
    elif isinstance(value, list):
        counts = dict(enumerate(value))
    else:
        raise ViewAnswerError(f"the histogram view returned {value!r}; its reduce failed on the database")
    return [(WINDOW_VALUES[b], n) for b, n in sorted(counts.items()) if n]


WINDOW_VALUES = [bucket_value(b + HISTOGRAM["lowest"], HISTOGRAM["gamma"]) for b in range(HISTOGRAM["buckets"])]


def sketch_buckets(sketch: dict) -> list[tuple[float, int]]:
    """The buckets of the JS sketch (`_design/pages_sketch`), its near-zero count first."""
    buckets = sorted((int(index), n) for index, n in sketch["buckets"].items())
    return [(0.0, sketch["zero"])] + [(bucket_value(index, sketch["gamma"]), n) for index, n in buckets]


def group_fields(key: list, by: str) -> dict:
    """Name the parts of a grouped key: page type, and the day or hour."""
    fields = {"page_type": key[0]}
    if by in ("day", "hour"):
        fields["day"] = f"{key[1]:04d}-{key[2]:02d}-{key[3]:02d}"
    if by == "hour":
        fields["hour"] = f"{fields['day']}T{key[4]:02d}:00Z"
    return fields


def view_order(page_type: str, *, couchdb: bool) -> str:
    """A sort key putting page types (slugs) in a view's order: CouchDB collates strings by ICU, "_"
    before "-", both before digits and letters; PouchDB Server by code point ("-" first)."""
    return page_type.replace("_", "\x01").replace("-", "\x02") if couchdb else page_type


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
    """Return the figures for each group of page views, in key order.

    One grouped range query per view (and per page type when bounded by time), all at once.
    """
    level = GROUP_LEVELS[by]
    if start is None and end is None:
        ranges = [{"startkey": [page_type], "endkey": [page_type, {}]} if page_type else {}]
    else:
        types = [page_type] if page_type else page_types(views)
        ranges = [
            {"startkey": start.start_key(t) if start else [t], "endkey": end.end_key(t) if end else [t, {}]}
            for t in types
        ]
    names = [STATS_VIEW, HISTOGRAM_VIEW] if percentiles else [STATS_VIEW]
    asks = [(view, bounds) for bounds in ranges for view in names]

    def ask(item) -> list[dict]:
        view, bounds = item
        return views.query(DDOC, view, group_level=level, **bounds)["rows"]

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_QUERIES, len(asks))) as pool:
        answers = list(pool.map(carry_deadline(ask), asks))
    stats_rows = [row for (view, _), rows in zip(asks, answers) if view == STATS_VIEW for row in rows]
    histograms = {
        tuple(row["key"]): row["value"] for (view, _), rows in zip(asks, answers) if view == HISTOGRAM_VIEW for row in rows
    }
    groups = []
    for row in stats_rows:
        # A write landing between the two queries can leave a new group in one answer only.
        histogram = histograms.get(tuple(row["key"])) if percentiles else None
        buckets = None if histogram is None else histogram_buckets(histogram)
        groups.append({**group_fields(row["key"], by), **summarise(row["value"], buckets)})
    return groups
