"""Page-time summaries chained after `_design/pages`: `/stats/page-times` read from them answers
exactly as the view path does, before the worker has caught up with new page views and after."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import default_settle, is_cluster, pending_changes, rebuild
from loader.derived.follow import Follower
from loader.designdocs.deploy import compile_for
from loader.devtools.generate import generate
from loader.logs.ingest import PendingLog, write_logs
from loader.pages.pagesummaries import PENDING_LIMIT, PageSummaries, summaries_db
from loader.pages.pagetimes import Bound, page_time_groups
from tests.eventually import eventually
from tests.rebuilds import place_at, place_gone
from tests.servers import REPO_DIR

COUCHREC = str(Path(sys.executable).with_name("couchrec"))

# Page types whose order differs between code points and the views' collation ("-" < "_" < "a" vs "_" < "-").
ODD_TYPES = ["a-b", "a_b", "a1", "ab"]

QUESTIONS = [
    {"by": "day"},
    {"by": "hour"},
    {"by": "hour", "page_type": "product"},
    {"by": "day", "page_type": "a-b"},
    {"by": "day", "from": "2026-10-02", "to": "2026-10-05"},
    {"by": "hour", "from": "2026-10-02T05", "to": "2026-10-04T17"},
    {"by": "day", "page_type": "product", "from": "2026-10-03T10", "to": "2026-10-03T20"},
    {"by": "hour", "from": "2026-10-06T23"},
    {"by": "day", "percentiles": "false"},
]


def page_view(doc_id: str, page_type: str, stamp: str, took: float) -> PendingLog:
    return PendingLog(doc_id, {"log_type": "page_view", "page_type": page_type, "generation_time": took,
                               "timestamp": stamp})


@pytest.fixture(scope="module")
def summarised(module_shop):
    """A generated shop's page views plus page types that collate oddly, its summaries rebuilt."""
    logs = [PendingLog(doc["_id"], {k: v for k, v in doc.items() if k != "_id"})
            for doc in generate(seed=23, orders=150, days=10) if doc["log_type"] == "page_view"]
    logs += [page_view(f"odd-{n}", ODD_TYPES[n % 4], f"2026-10-0{1 + n % 7}T{n % 24:02d}:10:00.000Z", 5.0 + n)
             for n in range(40)]
    assert all(outcome.status == "created" for outcome in write_logs(module_shop, logs))
    pages = {"_design/pages": compile_for(module_shop)["_design/pages"]}  # the only views read here
    warm_views(module_shop, pages, say=lambda line: None, timeout=600)
    done = rebuild(PageSummaries(module_shop), settle=default_settle(module_shop))
    assert done.checkpoint is not None
    # On a cluster the rebuild's reads (db_info for its start, the views) can lag a fresh bulk write by
    # nearly all of it; the worker's first pass, as `couchrec worker` runs it, replays what they missed.
    catch_up(module_shop)
    return module_shop


def catch_up(shop) -> Follower:
    worker = Follower(PageSummaries(shop), settle=3.0 if is_cluster(shop) else 0.0, wait_ms=0)
    worker.catch_up()
    return worker


def from_views(shop, params: dict) -> list[dict]:
    """What the view path answers (the service's fallback), straight from the library."""
    bounds = {name: Bound.parse(params[key]) if key in params else None for name, key in (("start", "from"), ("end", "to"))}
    return page_time_groups(ViewCache(shop), by=params["by"], page_type=params.get("page_type"),
                            percentiles=params.get("percentiles") != "false", **bounds)


def assert_same_groups(answer: list[dict], expected: list[dict]) -> None:
    """The same groups in the same order; figures equal up to float rounding."""
    assert [(g["page_type"], g.get("day"), g.get("hour")) for g in answer] == \
        [(g["page_type"], g.get("day"), g.get("hour")) for g in expected]
    for got, wanted in zip(answer, expected):
        assert got == {key: pytest.approx(value) if isinstance(value, float) else value for key, value in wanted.items()}


def assert_same_as_views(service, shop, params: dict) -> None:
    def check():
        body = service.get("/stats/page-times", params=params).json()
        assert body["source"] == "summaries", params
        assert_same_groups(body["groups"], from_views(shop, params))
    eventually(check, timeout=30 if is_cluster(shop) else 5)


@pytest.mark.parametrize("params", QUESTIONS)
def test_summaries_answer_as_the_views_do(service, summarised, params):
    assert_same_as_views(service, summarised, params)


def test_every_day_with_page_views_has_a_summary(summarised):
    def every_day_summarised():  # retried: a cluster read may miss a just-acknowledged write
        stored = {doc["_id"] for doc in summaries_db(summarised).all_docs()}
        days = {f"{key[0]}:{key[1]:04d}-{key[2]:02d}-{key[3]:02d}" for key in
                (row["key"] for row in summarised.query_view("pages", "generation_time_stats", group_level=4)["rows"])}
        assert stored == {f"{kind}:{day}" for kind in ("day", "hours") for day in days} and len(days) > 40

    eventually(every_day_summarised)


def test_new_page_views_show_before_the_worker_runs_and_after(service, summarised):
    fresh = [page_view(f"late-{n}", "product", f"2026-10-03T{n:02d}:30:00.000Z", 900.0 + n) for n in range(12)]
    fresh += [page_view("late-new-type", "zz-new", "2026-10-09T01:00:00.000Z", 3.0)]
    assert all(outcome.status == "created" for outcome in write_logs(summarised, fresh))
    for params in QUESTIONS[:3] + [{"by": "day", "page_type": "zz-new"}]:
        assert_same_as_views(service, summarised, params)
    assert catch_up(summarised).docs_written >= 2

    def stored_as_the_views_say():
        stored = summaries_db(summarised).get_doc("hours:product:2026-10-03")
        assert_same_groups(stored["groups"], from_views(summarised, {"by": "hour", "page_type": "product",
                                                                     "from": "2026-10-03", "to": "2026-10-03"}))
        assert summaries_db(summarised).get_doc("day:zz-new:2026-10-09")["groups"][0]["count"] == 1
    eventually(stored_as_the_views_say, timeout=30)

    def caught_up():
        assert pending_changes(PageSummaries(summarised))["pending_changes"] == 0
        status = service.get("/status/page-times").json()
        assert status["summaries"] == "present" and status["pending_changes"] == 0 and status["checkpoint_age_s"] < 300
    eventually(caught_up, timeout=30)
    for params in QUESTIONS:
        assert_same_as_views(service, summarised, params)


def test_far_behind_summaries_give_way_to_the_views(service, summarised):
    burst = [page_view(f"burst-{n}", "search", f"2026-10-05T{n % 24:02d}:00:00.000Z", 1.0 + n % 50)
             for n in range(PENDING_LIMIT)]
    assert all(outcome.status == "created" for outcome in write_logs(summarised, burst))

    def from_the_views():
        body = service.get("/stats/page-times", params={"by": "day"}).json()
        assert body["source"] == "views"
        assert_same_groups(body["groups"], from_views(summarised, {"by": "day"}))
    eventually(from_the_views, timeout=30)
    catch_up(summarised)
    assert_same_as_views(service, summarised, {"by": "day"})


def test_without_summaries_the_views_answer(service, summarised):
    summaries_db(summarised).delete_db()
    assert service.get("/status/page-times").json() == {"summaries": "absent", "pending_changes": None,
                                                         "checkpoint_age_s": None}

    def from_the_views():
        body = service.get("/stats/page-times", params={"by": "hour"}).json()
        assert body["source"] == "views"
        assert_same_groups(body["groups"], from_views(summarised, {"by": "hour"}))
    eventually(from_the_views, timeout=30)


def test_the_rebuild_command_writes_every_day(summarised):
    summaries_db(summarised).delete_db()
    env = {**os.environ, "COUCHDB_URL": summarised.url, "COUCHREC_DB": summarised.db}
    done = subprocess.run([COUCHREC, "page-times", "rebuild", "--quiet"], cwd=REPO_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    days = len(summarised.query_view("pages", "generation_time_stats", group_level=4)["rows"])
    assert f"{days} page-time summaries written to {summarised.db}-pagetimes" in done.stdout
    eventually(lambda: summary_count_is(summarised, 2 * days))


def summary_count_is(shop, expected: int) -> None:
    assert sum(1 for _ in summaries_db(shop).all_docs()) == expected


class Interrupted(Exception):
    """Stands for a rebuild stopped mid-way (Ctrl-C, a crash)."""


def test_an_interrupted_rebuild_resumes_where_it_stopped(summarised):
    summaries_db(summarised).delete_db()
    seen = []

    def stop_after_two_parts(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 10:
            raise Interrupted

    with pytest.raises(Interrupted):
        rebuild(PageSummaries(summarised), batch=5, progress=stop_after_two_parts)
    place = eventually(lambda: place_at(summaries_db(summarised), 10))
    assert place["after"] is not None
    days = len(summarised.query_view("pages", "generation_time_stats", group_level=4)["rows"])
    done = rebuild(PageSummaries(summarised), batch=5, progress=lambda done, total: seen.append((done, total)))
    assert (done.resumed, done.items) == (10, days - 10) and seen[-1] == (days, days)
    eventually(lambda: place_gone(summaries_db(summarised)))
    assert done.checkpoint == place["start_seq"]  # what came after the first start is the worker's to replay
    eventually(lambda: summary_count_is(summarised, 2 * days))
