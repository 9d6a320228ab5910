"""Page-time summaries: the step chained after `_design/pages`, so hourly and daily figures are read
as a few documents instead of thousands of grouped view rows.

On CouchDB every group of a grouped reduce costs a B-tree fold, and the `_sum` histogram makes each
one heavy: four weeks by hour is 4,032 groups and about a second even though both views reduce in
Erlang. So for each page type and UTC day with page views, two documents in `<db>-pagetimes` hold
that day's figures (`day:<page_type>:<YYYY-MM-DD>`, its `by=day` group) and its hours'
(`hours:<page_type>:<YYYY-MM-DD>`, its `by=hour` groups), each group stored as the service answers
it; `by=day` reads one range of the first kind, `by=hour` one of the second. They are computed by
`page_time_groups` over that one day: the same code and the same views as the view path, so the
two answer alike. A page view changes only its own day's documents, so the worker
(loader/derived/follow.py) recomputes just the days touched by new page views.

Reading stays exact: a question reads the summaries' checkpoint, then the page views written after
it (the changes feed, at most PENDING_LIMIT), and answers the days those touch, and any day cut by
an hour bound, from the views; every other day from its document. Further behind than that, or
with no summaries yet, the caller uses the view path. Page views are never deleted by couchrec; a
deleted one stays counted in its day's document until that day is recomputed (a rebuild).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from loader.couchdb.couch import Couch, carry_deadline
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import derived_db, in_parts, read_checkpoint, write_over
from loader.derived.follow import read_changes
from loader.pages.pagetimes import DDOC, QUANTILES, STATS_VIEW, Bound, page_time_groups, view_order

SUFFIX = "-pagetimes"
PAGE_VIEW_SELECTOR = {"log_type": "page_view"}
PENDING_LIMIT = 1000
QUERY_THREADS = 2
Cell = tuple[str, str]  # (page type, YYYY-MM-DD)


def cell_of(doc: dict | None) -> Cell | None:
    """The page type and day a page view is counted in (as designdocs/_lib/page_view_key.js keys it)."""
    if not doc or doc.get("log_type") != "page_view" or not isinstance(doc.get("page_type"), str):
        return None
    stamp, took = doc.get("timestamp"), doc.get("generation_time")
    if not isinstance(took, (int, float)) or isinstance(took, bool) or not isinstance(stamp, str) or len(stamp) < 13:
        return None
    try:
        day = f"{int(stamp[0:4]):04d}-{int(stamp[5:7]):02d}-{int(stamp[8:10]):02d}"
    except ValueError:
        return None
    return doc["page_type"], day


KINDS = {"day": "day", "hour": "hours"}  # the `by` a document answers -> its id prefix


def doc_id(by: str, cell: Cell) -> str:
    return f"{KINDS[by]}:{cell[0]}:{cell[1]}"  # page types are slugs: no ":"


def cell_of_id(summary_id: str) -> Cell:
    _, page_type, day = summary_id.split(":")
    return page_type, day


def summaries_db(couch: Couch) -> Couch:
    return derived_db(couch, SUFFIX)


@dataclass
class PageSummaries:
    """The page-time summaries as a derivation of the log database (loader/derived/derived.py)."""

    couch: Couch
    name = "page-time summaries"
    selector = PAGE_VIEW_SELECTOR
    part = ""  # one worker keeps them all
    workers = 1
    read_to = None  # keys from the views, not from a pass over `_changes`

    def __post_init__(self):
        self.target = summaries_db(self.couch)

    def touched(self, doc: dict | None) -> set[Cell]:
        cell = cell_of(doc)
        return {cell} if cell else set()

    journaled = False  # recomputed from the views: a replayed batch is harmless
    epoch = None

    def all_keys(self, progress=None, leave_out_after=None) -> list[Cell]:  # one view read: no progress to tell
        rows = self.couch.query_view(DDOC, STATS_VIEW, group_level=4)["rows"]
        return [(key[0], f"{key[1]:04d}-{key[2]:02d}-{key[3]:02d}") for key in (row["key"] for row in rows)]

    def compute(self, cells: Iterable[Cell]) -> list[dict]:
        views = ViewCache(self.couch)  # a fresh cache: every answer read now

        def summaries(cell: Cell) -> list[dict]:
            page_type, day = cell
            bound = Bound.parse(day)
            return [{"_id": doc_id(by, cell), "page_type": page_type, "day": day, "computed_at": time.time(),
                     "groups": page_time_groups(views, by=by, page_type=page_type, start=bound, end=bound)}
                    for by in KINDS]

        with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
            return [doc for docs in pool.map(summaries, sorted(set(cells))) for doc in docs]

    def compute_all(self, cells: list[Cell], batch: int) -> Iterator[tuple[list[Cell], list[dict]]]:
        return in_parts(self.compute, cells, batch)

    def update(self, docs: list[dict], place=None) -> list[dict]:
        return self.compute({cell for doc in docs for cell in self.touched(doc)})

    def carried(self, checkpoint: dict, docs: list[dict]) -> dict:
        return {}

    def rebuilt(self) -> dict:
        return {}

    def write(self, docs: list[dict]) -> int:
        return write_over(self.target, docs, lambda ids: self.compute({cell_of_id(i) for i in ids}))


class SummaryReader:
    """Answers `by=day` and `by=hour` questions from the summaries (see the module's docstring)."""

    def __init__(self, couch: Couch):
        self.couch = couch
        self.target = summaries_db(couch)
        self.couchdb: bool | None = None  # asked on first use: the server may be down now

    def groups(self, views, *, by: str, page_type: str | None, start: Bound | None, end: Bound | None,
               percentiles: bool) -> list[dict] | None:
        """The figures of each group, in the view path's order; None when there are no summaries or
        more than PENDING_LIMIT page views are not in them yet (then ask the views)."""
        checkpoint = read_checkpoint(self.target)
        if checkpoint is None:
            return None
        changed = self.changed_cells(checkpoint["seq"])
        if changed is None:
            return None
        first = start.day() if start else None
        last = end.day() if end else None
        docs = self.read_docs(by, page_type, first, last)
        types = {page_type} if page_type else {doc["page_type"] for doc in docs} | {t for t, _ in changed}
        from_views = {cell: (Bound.parse(cell[1]), Bound.parse(cell[1])) for cell in changed
                      if (not page_type or cell[0] == page_type)
                      and (first is None or cell[1] >= first) and (last is None or cell[1] <= last)}
        for bound, is_start in ((start, True), (end, False)):
            if bound and bound.hour is not None:  # a day cut by an hour bound
                for t in types:
                    cell = (t, bound.day())
                    low, high = from_views.get(cell, (Bound.parse(cell[1]), Bound.parse(cell[1])))
                    from_views[cell] = (bound, high) if is_start else (low, bound)
        blank = dict.fromkeys(QUANTILES)
        days = {(doc["page_type"], doc["day"]): doc["groups"] if percentiles else [{**g, **blank} for g in doc["groups"]]
                for doc in docs if (doc["page_type"], doc["day"]) not in from_views}

        def ask(item) -> list[dict]:
            (t, _), (low, high) = item
            return page_time_groups(views, by=by, page_type=t, start=low, end=high, percentiles=percentiles)

        with ThreadPoolExecutor(max_workers=max(1, min(QUERY_THREADS, len(from_views)))) as pool:
            days.update(zip(from_views, pool.map(carry_deadline(ask), from_views.items())))
        order = sorted(days, key=lambda cell: (view_order(cell[0], couchdb=self.couchdb), cell[1]))
        return [group for cell in order for group in days[cell]]

    def changed_cells(self, since) -> set[Cell] | None:
        """The days of the page views written after `since`, or None when there are PENDING_LIMIT or more."""
        if self.couchdb is None:
            self.couchdb = self.couch.is_couchdb()
        body = read_changes(self.couch, since, selector=PAGE_VIEW_SELECTOR, limit=PENDING_LIMIT, wait_ms=0,
                            couchdb=self.couchdb)
        if len(body["results"]) >= PENDING_LIMIT:
            return None
        return {cell for cell in (cell_of(change.get("doc")) for change in body["results"]) if cell}

    def read_docs(self, by: str, page_type: str | None, first: str | None, last: str | None) -> list[dict]:
        """The `by` summaries of one page type (or all) whose day is within [first, last] (None: unbounded)."""
        if page_type:
            prefix = f"{KINDS[by]}:{page_type}:"
            low, high = prefix + (first or ""), prefix + (last or chr(0xFFF0))
        else:
            low, high = f"{KINDS[by]}:", f"{KINDS[by]}:{chr(0xFFF0)}"
        params = {"include_docs": "true", "startkey": json.dumps(low), "endkey": json.dumps(high)}
        rows = self.target.db_request("GET", "_all_docs", params=params).json()["rows"]
        return [row["doc"] for row in rows
                if (first is None or row["doc"]["day"] >= first) and (last is None or row["doc"]["day"] <= last)]


def page_times(summaries: SummaryReader, views_since, views: Callable[[], ViewCache], *, by: str,
               **asked) -> tuple[list[dict], str]:
    """GET /stats/page-times' figures and where they came from: by day or hour from the summaries (plus the
    days changed since their checkpoint, read through `views_since`) when they can answer, otherwise, and
    by page type, from the views (`views()` is called only then)."""
    if by != "page_type":
        groups = summaries.groups(views_since, by=by, **asked)
        if groups is not None:
            return groups, "summaries"
    return page_time_groups(views(), by=by, **asked), "views"
