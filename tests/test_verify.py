"""Every reduce survives CouchDB's rereduce and reduce_limit; broken reduces are caught."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from loader.designdocs import compile_all
from loader.generate import generate
from loader.pagetimes import RELATIVE_ERROR
from loader.verify import ReduceLimitError, View, check_view, reduce_views, verify_all

DDOCS = compile_all()
PAGES = DDOCS["_design/pages"]["views"]
SKETCH = View("pages/generation_time", PAGES["generation_time"]["map"], PAGES["generation_time"]["reduce"])
STATS = View("pages/generation_time_stats", PAGES["generation_time_stats"]["map"], "_stats")

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
    findings = verify_all(DDOCS, docs, seed=3, trials=10)
    assert {f.view for f in findings} == {v.name for v in reduce_views(DDOCS)}
    assert all(f.rows > 0 for f in findings)
    assert [f.problem for f in findings if not f.ok] == []


def test_an_average_of_averages_is_caught():
    broken = View("broken/avg", PAGES["generation_time"]["map"], AVERAGE_OF_AVERAGES)
    rows = broken.rows(page_views([10, 20, 30, 40, 50, 60, 1000, 5, 7, 9, 11, 13]))
    finding = check_view(broken, rows, random.Random(1), trials=20)
    assert not finding.ok
    assert "regrouped reduction" in finding.problem


def test_a_reduce_that_collects_unique_values_breaks_reduce_limit():
    collector = View("broken/set", PAGES["generation_time"]["map"], SET_OF_VALUES)
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
