"""Every reduce survives CouchDB's rereduce and reduce_limit; broken reduces are caught."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from loader.designdocs.deploy import TARGETS, compile_all
from loader.designdocs.verify import (BUILTIN_REDUCE_LIMIT, ReduceLimitError, View, check_view, erlang_term_size,
                                      reduce_views, verify_all)
from loader.devtools.generate import generate
from loader.pages.pagetimes import HISTOGRAM, RELATIVE_ERROR

COMPILED = {target: compile_all(target=target) for target in TARGETS}
PAGES = COMPILED["couchdb"]["_design/pages"]["views"]
SKETCH_VIEW = COMPILED["couchdb"]["_design/pages_sketch"]["views"]["generation_time"]
SKETCH = View("pages_sketch/generation_time", SKETCH_VIEW["map"], SKETCH_VIEW["reduce"])
STATS = View("pages/generation_time_stats", PAGES["generation_time_stats"]["map"], "_stats")
HISTOGRAMS = {  # the form each server's _sum can add: object on CouchDB, array on PouchDB Server
    target: View(f"pages/generation_time_histogram [{target}]",
                 ddocs["_design/pages"]["views"]["generation_time_histogram"]["map"], "_sum")
    for target, ddocs in COMPILED.items()
}

AVERAGE_OF_AVERAGES = """
function (keys, values, rereduce) {
  var total = 0;
  for (var i = 0; i < values.length; i++) total += values[i];
  return total / values.length;
}
"""

SET_OF_VALUES = """
function (keys, values, rereduce) {
  var seen = {};
  for (var i = 0; i < values.length; i++) {
    if (rereduce) { for (var k in values[i]) seen[k] = true; } else { seen["value-" + values[i]] = true; }
  }
  return seen;
}
"""

generation_times = st.one_of(
    st.floats(min_value=0, max_value=3_600_000, allow_nan=False),
    st.integers(min_value=0, max_value=5000),
    st.sampled_from([0, 0.0005, 0.001, 1, 1e-300]),
)


def page_views(times, page_types=("home", "product")):
    return [
        {"_id": f"pv{n}", "log_type": "page_view", "page_type": page_types[n % len(page_types)],
         "generation_time": t, "timestamp": f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:00:00.000Z"}
        for n, t in enumerate(times)
    ]


@settings(max_examples=60, deadline=None)
@given(times=st.lists(generation_times, min_size=1, max_size=400), seed=st.integers(0, 2**32 - 1))
def test_sketch_reduce_gives_one_answer_however_rows_are_grouped(times, seed):
    rows = SKETCH.rows(page_views(times))
    finding = check_view(SKETCH, rows, random.Random(seed), trials=5)
    assert finding.ok, finding.problem


@settings(max_examples=30, deadline=None)
@given(times=st.lists(generation_times, min_size=1, max_size=200), seed=st.integers(0, 2**32 - 1))
def test_stats_twin_gives_one_answer_however_rows_are_grouped(times, seed):
    finding = check_view(STATS, STATS.rows(page_views(times)), random.Random(seed), trials=5)
    assert finding.ok, finding.problem


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=40, deadline=None)
@given(times=st.lists(generation_times, min_size=1, max_size=300), seed=st.integers(0, 2**32 - 1))
def test_histogram_gives_one_answer_however_rows_are_grouped(target, times, seed):
    histogram = HISTOGRAMS[target]
    finding = check_view(histogram, histogram.rows(page_views(times)), random.Random(seed), trials=5)
    assert finding.ok, finding.problem


@pytest.mark.parametrize("target", TARGETS)
def test_histogram_holds_at_most_the_window_and_stays_under_the_builtin_reduce_limit(target):
    # Every bucket of the window and far past both ends (which clamp into the edge buckets).
    histogram = HISTOGRAMS[target]
    times = [0, 1e-6] + [0.01 * 1.03 ** k for k in range(0, 650)] + [3_600_000]
    rows = histogram.rows(page_views(times * 2))
    finding = check_view(histogram, rows, random.Random(5), trials=5)
    assert finding.ok, finding.problem
    whole = histogram.single_pass(rows)
    assert len(whole) == HISTOGRAM["buckets"]
    assert (whole["0"] if target == "couchdb" else whole[0]) > 2  # what lies below the window
    # Just under 2^48 views in every bucket of one group (6-byte integers): the largest term a _sum makes.
    huge = {b: 2**47 - 1 for b in whole} if target == "couchdb" else [2**47 - 1 for _ in whole]
    merged = histogram.reduce(None, [huge, huge], True)
    assert erlang_term_size(merged) <= BUILTIN_REDUCE_LIMIT


def test_sketch_stays_under_reduce_limit_over_the_widest_spread():
    # Values from 1 us to an hour, spread over every bucket: the most the sketch can hold.
    times = [0.001 * 1.03 ** k for k in range(0, 750)] * 3
    rows = SKETCH.rows(page_views(times))
    finding = check_view(SKETCH, rows, random.Random(7), trials=5)
    assert finding.ok, finding.problem
    whole = SKETCH.single_pass(rows)
    assert len(whole["buckets"]) == 180
    # Billions of views per bucket: the longest numbers the summary will ever print.
    huge = dict(whole, count=whole["count"] * 10**9, zero=10**9,
                buckets={index: count * 10**9 for index, count in whole["buckets"].items()})
    merged = SKETCH.reduce(None, [huge, huge], True)
    assert len(merged["buckets"]) == 180
    assert len(json.dumps([merged], separators=(",", ":"))) <= 4096


def test_sketch_states_the_relative_error_the_service_publishes():
    gamma = SKETCH.single_pass(SKETCH.rows(page_views([5.0])))["gamma"]
    assert abs((gamma - 1) / (gamma + 1) - RELATIVE_ERROR) < 1e-12


def test_every_reduce_in_designdocs_passes_on_generated_traffic():
    docs = list(generate(seed=3, orders=150))
    findings = verify_all(COMPILED, docs, seed=3, trials=10)
    assert {f.view for f in findings} == {v.name for v in reduce_views(COMPILED)}
    assert {"pages/generation_time_histogram [object]", "pages/generation_time_histogram [array]",
            "pages_sketch/generation_time", "pages/generation_time_stats"} <= {f.view for f in findings}
    assert all(f.rows > 0 for f in findings)
    assert [f.problem for f in findings if not f.ok] == []


def test_a_histogram_without_a_window_breaks_the_builtin_reduce_limit():
    unbounded = View("broken/histogram", """function (doc) {
      var value = {}; value[Math.ceil(Math.log(doc.generation_time) / Math.log(1.0408))] = 1;
      emit(doc.page_type, value); }""", "_sum")
    rows = unbounded.rows(page_views([0.01 * 1.03 ** k for k in range(0, 650)]))
    finding = check_view(unbounded, rows, random.Random(2), trials=3)
    assert not finding.ok
    assert "breaks reduce_limit" in finding.problem


def test_an_average_of_averages_is_caught():
    broken = View("broken/avg", SKETCH_VIEW["map"], AVERAGE_OF_AVERAGES)
    rows = broken.rows(page_views([10, 20, 30, 40, 50, 60, 1000, 5, 7, 9, 11, 13]))
    finding = check_view(broken, rows, random.Random(1), trials=20)
    assert not finding.ok
    assert "regrouped reduction" in finding.problem


def test_a_reduce_that_collects_unique_values_breaks_reduce_limit():
    collector = View("broken/set", SKETCH_VIEW["map"], SET_OF_VALUES)
    rows = collector.rows(page_views(list(range(1000))))
    finding = check_view(collector, rows, random.Random(1), trials=3)
    assert not finding.ok
    assert "breaks reduce_limit" in finding.problem


def test_reduce_limit_needs_both_a_large_output_and_too_little_shrinkage():
    echo = View("echo", "function (doc) { emit(doc._id, doc.blob); }", "function (k, v, r) { return v[0]; }")
    small_shrink = [(["k", "d"], "x" * 5000)] * 3  # 5 kB out of 15 kB in: shrinks enough
    echo.reduce([k for k, _ in small_shrink], [v for _, v in small_shrink], False)
    try:
        echo.reduce([["k", "d"]], ["x" * 5000], False)  # 5 kB out of 5 kB in
    except ReduceLimitError as exc:
        assert "breaks reduce_limit" in str(exc)
    else:
        raise AssertionError("an output as large as its input must break reduce_limit")


def test_builtin_sum_adds_arrays_element_wise():
    view = View("sum", "function (doc) { emit(doc._id, doc.v); }", "_sum")
    assert view.reduce(None, [[1, 2], [3, 4, 5]], True) == [4, 6, 5]
    assert json.dumps(view.reduce(None, [1, 2.5], True)) == "3.5"


def test_builtin_sum_adds_objects_key_by_key():
    view = View("sum", "function (doc) { emit(doc._id, doc.v); }", "_sum")
    assert view.reduce(None, [{"3": 1, "7": 2}, {"7": 5, "9": 1}], True) == {"3": 1, "7": 7, "9": 1}
    assert view.reduce(["a", "b"], [{"0": 1}, {"0": 1}], False) == {"0": 2}


def test_erlang_term_size_matches_what_couchdb_reports():
    # CouchDB 3.5 refused this sum "output size: 5899" (tests/test_pagetimes.py measures it live).
    assert erlang_term_size({str(b): 1 for b in range(500)}) == 5899
    assert erlang_term_size([1, 2, 300]) == 1 + 6 + 2 + 2 + 5
    assert erlang_term_size([1, 2, 3]) == 1 + 3 + 3
    assert erlang_term_size({"a": 2**40, "b": 1.5, "c": None}) == 1 + 2 + 6 + (2 + 6 + 3 + 6) + (2 + 6 + 9) + (2 + 6 + 6)
