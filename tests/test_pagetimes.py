"""/stats/page-times equals what Python computes from the loaded documents."""

import json
import math
from collections import defaultdict

import pytest

from loader.bulk import load_files
from loader.generate import generate
from loader.pagetimes import RELATIVE_ERROR

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
    """Load a generated shop through the loader; return its page views."""
    docs = list(generate(seed=11, orders=400)) + EXTRA
    path = tmp_path_factory.mktemp("shop") / "shop.ndjson"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    summary = load_files(module_shop, [str(path)], rejects_path=path.with_suffix(".rejects"), progress=False)
    assert summary.created == len(docs) and summary.clean
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
