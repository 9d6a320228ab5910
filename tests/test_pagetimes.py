"""/stats/page-times equals what Python computes from the loaded documents; the builtin path,
the JS sketch and CouchDB's own limits agree."""

import json
import math
from collections import defaultdict

import pytest

from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.designdocs.deploy import compile_for
from loader.designdocs.verify import BUILTIN_REDUCE_LIMIT, erlang_term_size
from loader.devtools.generate import generate
from loader.logs.bulk import load_files
from loader.pages.pagetimes import (HISTOGRAM, HISTOGRAM_VIEW, RELATIVE_ERROR, page_time_groups, sketch_buckets,
                                    summarise)
from tests.eventually import eventually
from tests.servers import LiveService

EXTRA = [  # edge values the generator does not make
    {"_id": "edge-0", "log_type": "page_view", "page_type": "search", "generation_time": 0,
     "timestamp": "2026-10-03T07:59:59.999Z"},
    {"_id": "edge-1", "log_type": "page_view", "page_type": "search", "generation_time": 0.0004,
     "timestamp": "2026-10-03T08:00:00.000Z"},
    {"_id": "edge-2", "log_type": "page_view", "page_type": "search", "generation_time": 3_600_000,
     "timestamp": "2026-10-03T08:30:00.000Z"},
]


@pytest.fixture(scope="module")
def page_views(module_shop, tmp_path_factory):
    """Load a generated shop's page views through the loader; return them."""
    docs = [doc for doc in generate(seed=11, orders=400) if doc["log_type"] == "page_view"] + EXTRA
    path = tmp_path_factory.mktemp("shop") / "shop.ndjson"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    summary = load_files(module_shop, [str(path)], rejects_path=path.with_suffix(".rejects"), progress=False)
    assert summary.created == len(docs) and summary.clean
    warm_views(module_shop, compile_for(module_shop), say=lambda line: None, timeout=600)  # as `couchrec load` does
    return [doc for doc in docs if doc["log_type"] == "page_view"]


def expected_groups(views, key):
    groups = defaultdict(list)
    for doc in views:
        groups[key(doc)].append(doc["generation_time"])
    return groups


def assert_matches(group, values, percentiles=True):
    values = sorted(values)
    n = len(values)
    mean = sum(values) / n
    assert group["count"] == n
    assert group["min"] == values[0] and group["max"] == values[-1]
    assert group["avg"] == pytest.approx(mean, rel=1e-9)
    stddev = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    assert group["stddev"] == pytest.approx(stddev, rel=1e-6, abs=1e-6)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = values[math.floor(q * (n - 1))]
        if percentiles:
            assert abs(group[name] - exact) <= RELATIVE_ERROR * exact + 0.001, (name, group[name], exact)
        else:
            assert group[name] is None


def test_per_page_type(service, page_views):
    answer = service.get("/stats/page-times")
    assert answer.status_code == 200
    body = answer.json()
    assert body["by"] == "page_type" and body["percentile_relative_error"] == RELATIVE_ERROR
    expected = expected_groups(page_views, lambda d: d["page_type"])
    assert [g["page_type"] for g in body["groups"]] == sorted(expected)
    for group in body["groups"]:
        assert_matches(group, expected[group["page_type"]])


def test_per_day_for_one_page_type_within_a_range(service, page_views):
    answer = service.get("/stats/page-times", params={"by": "day", "page_type": "product",
                                                      "from": "2026-10-02", "to": "2026-10-05"})
    assert answer.status_code == 200
    expected = expected_groups(
        [d for d in page_views if d["page_type"] == "product" and "2026-10-02" <= d["timestamp"][:10] <= "2026-10-05"],
        lambda d: d["timestamp"][:10],
    )
    groups = answer.json()["groups"]
    assert [g["day"] for g in groups] == sorted(expected) == ["2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05"]
    for group in groups:
        assert group["page_type"] == "product"
        assert_matches(group, expected[group["day"]])


def test_per_hour_across_page_types_within_hours(service, page_views):
    answer = service.get("/stats/page-times", params={"by": "hour", "from": "2026-10-03T07", "to": "2026-10-03T08"})
    expected = expected_groups(
        [d for d in page_views if d["timestamp"][:13] in ("2026-10-03T07", "2026-10-03T08")],
        lambda d: (d["page_type"], d["timestamp"][:13] + ":00Z"),
    )
    groups = answer.json()["groups"]
    assert {(g["page_type"], g["hour"]) for g in groups} == set(expected)
    assert ("search", "2026-10-03T08:00Z") in expected
    for group in groups:
        assert_matches(group, expected[(group["page_type"], group["hour"])])


def test_per_page_type_within_a_range_without_percentiles(service, page_views):
    answer = service.get("/stats/page-times", params={"from": "2026-10-10", "to": "2026-10-12",
                                                      "percentiles": "false"})
    expected = expected_groups([d for d in page_views if "2026-10-10" <= d["timestamp"][:10] <= "2026-10-12"],
                               lambda d: d["page_type"])
    groups = answer.json()["groups"]
    assert [g["page_type"] for g in groups] == sorted(expected)
    for group in groups:
        assert_matches(group, expected[group["page_type"]], percentiles=False)


@pytest.mark.parametrize("params,field", [
    ({"by": "week"}, "by"),
    ({"page_type": "Home"}, "page_type"),
    ({"from": "2026-02-30"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-10-05", "to": "2026-10-01"}, "from"),
    ({"percentiles": "maybe"}, "percentiles"),
    ({"limit": "3"}, "limit"),
])
def test_bad_parameters_are_400s_naming_the_parameter(service, params, field):
    answer = service.get("/stats/page-times", params=params)
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_a_range_with_no_page_views_has_no_groups(service, page_views):
    answer = service.get("/stats/page-times", params={"by": "day", "from": "2030-01-01", "to": "2030-01-02"})
    assert answer.status_code == 200 and answer.json()["groups"] == []


@pytest.mark.parametrize("by,params", [
    ("page_type", {}),
    ("day", {"startkey": ["product"], "endkey": ["product", {}]}),
    ("hour", {"startkey": ["search", 2026, 10, 3], "endkey": ["search", 2026, 10, 3, {}]}),
])
def test_the_js_sketch_and_the_builtin_path_give_the_same_figures(module_shop, page_views, by, params):
    level = {"page_type": 1, "day": 4, "hour": 5}[by]
    page_type = params["startkey"][0] if params else None

    def compare():  # on a cluster the two design docs' indexes may see the writes a moment apart
        sketch_rows = module_shop.query_view("pages_sketch", "generation_time", group_level=level, **params)["rows"]
        sketches = [summarise(row["value"], sketch_buckets(row["value"])) for row in sketch_rows]
        builtin = page_time_groups(ViewCache(module_shop, update="true", max_age=0), by=by, page_type=page_type)
        if by == "hour":
            builtin = [g for g in builtin if g["hour"].startswith("2026-10-03")]
        assert len(builtin) == len(sketches) > 0
        for group, sketch in zip(builtin, sketches):
            assert group["count"] == sketch["count"]
            for name in ("avg", "min", "max", "stddev"):
                assert group[name] == pytest.approx(sketch[name], rel=1e-9, abs=1e-9), name
            for name in ("p50", "p95", "p99"):  # each within the error of the same true value
                assert abs(group[name] - sketch[name]) <= 2 * RELATIVE_ERROR * max(group[name], sketch[name]) + 0.001

    eventually(compare)


@pytest.fixture
def couchdb_only(couchdb_url, couch):
    if couch.server_info().vendor != "couchdb":
        pytest.skip("CouchDB's builtin reduce_limit: PouchDB Server has none")


def test_couchdb_sizes_a_sum_as_the_verifier_does(couchdb_only, couch):
    """Measure the real limit: 500 one-count buckets in one group overflow, and CouchDB names the size."""
    couch.put_doc("_design/t", {"views": {"h": {"map": "function (doc) { var o = {}; o[doc.b] = doc.n; emit(0, o); }",
                                                "reduce": "_sum"}}})
    couch.bulk_docs([{"b": str(b), "n": 1} for b in range(500)])

    def overflowed():
        rows = couch.query_view("t", "h")["rows"]
        assert len(rows) == 1, rows  # on a cluster the writes may not be visible yet
        [row] = rows
        assert row["value"].get("error") == "builtin_reduce_error", row["value"]
        return row["value"]["reason"]
    reason = eventually(overflowed)
    assert f"output size: {erlang_term_size({str(b): 1 for b in range(500)})}" in reason
    assert erlang_term_size({str(b): 1 for b in range(500)}) > BUILTIN_REDUCE_LIMIT


def test_the_fullest_histogram_stays_under_couchdbs_limit(couchdb_only, couch):
    """Every bucket of the window, each just under 2^48 views, in one group: CouchDB still sums it."""
    couch.put_doc("_design/t", {"views": {"h": {"map": "function (doc) { var o = {}; o[doc.b] = doc.n; emit(0, o); }",
                                                "reduce": "_sum"}}})
    half = (2**48 - 1) // 2
    couch.bulk_docs([{"b": str(b), "n": n} for b in range(HISTOGRAM["buckets"]) for n in (half, half + 1)])

    def summed():
        rows = couch.query_view("t", "h")["rows"]
        assert len(rows) == 1, rows  # on a cluster the writes may not be visible yet
        [row] = rows
        assert row["value"] == {str(b): 2**48 - 1 for b in range(HISTOGRAM["buckets"])}
        return row["value"]
    assert erlang_term_size(eventually(summed)) <= BUILTIN_REDUCE_LIMIT


def test_page_views_across_every_bucket_fill_the_window_without_error(shop):
    times = [0, 0.0001] + [0.05 * 1.03 ** k for k in range(560)] + [3_600_000]
    shop.bulk_docs([{"log_type": "page_view", "page_type": "home", "generation_time": t,
                     "timestamp": "2026-10-01T00:00:00.000Z"} for t in times])

    def histogram():
        rows = shop.query_view("pages", HISTOGRAM_VIEW, group_level=1)["rows"]
        assert len(rows) == 1, rows
        [row] = rows
        counts = row["value"]
        assert sum(counts.values() if isinstance(counts, dict) else counts) == len(times), counts
        return counts
    counts = eventually(histogram)
    assert len(counts) == HISTOGRAM["buckets"] and all(n > 0 for n in (counts.values() if isinstance(counts, dict) else counts))


@pytest.mark.parametrize("params", [{}, {"by": "hour"}, {"percentiles": "false"}, {"by": "day", "from": "2026-10-01"}])
def test_without_design_docs_page_times_are_503s_with_retry_after(couchdb_url, couch, params):
    live = LiveService(couchdb_url, couch.db, workers=1)
    try:
        answer = live.get("/stats/page-times", params=params)
    finally:
        live.stop()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["error"] == "database_unavailable"
