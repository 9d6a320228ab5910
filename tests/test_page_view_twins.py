"""A page view's day, written twice (designdocs/_lib/page_view_key.js for the page-time views,
loader/pages/pagesummaries.py's `cell_of` for the summaries), is the same on the same random documents:
those `validate_doc_update` lets into the database, since those are all a view ever sees. The JS
runs in QuickJS, as the reduce verifier runs it (loader/designdocs/verify.py). An order's items and pairs
have their own twin test (tests/test_pairing.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import quickjs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loader.designdocs.deploy import TARGETS, function_source
from loader.designdocs.verify import JsFunctions
from loader.pages.pagesummaries import cell_of

DESIGNDOCS = Path(__file__).resolve().parent.parent / "designdocs"


def js_function(name: str):
    """designdocs/_lib/<name>.js as a Python callable (its argument and answer go through JSON)."""
    context = quickjs.Context()
    context.eval(f"var f = ({function_source(DESIGNDOCS / '_lib' / f'{name}.js', TARGETS[0])});\n"
                 "function call(json) { var out = f(JSON.parse(json)); return JSON.stringify(out === undefined ? null : out); }")
    return lambda value: json.loads(context.get("call")(json.dumps(value)))


MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(timezone.utc))
STAMPS = MOMENTS.map(lambda m: m.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def mostly(valid, other):
    """`valid` three times in four, else `other`: most examples pass validation, some probe its edges."""
    return st.integers(0, 3).flatmap(lambda n: valid if n else other)


PAGE_VIEWS = st.fixed_dictionaries({
    "_id": st.just("log-1"),
    "log_type": st.just("page_view"),
    "timestamp": mostly(STAMPS, st.text(max_size=24)),
    "page_type": mostly(st.sampled_from(["home", "product", "cart-2", "x_y"]), st.one_of(st.text(max_size=6),
                                                                                      st.integers())),
    "generation_time": mostly(st.one_of(st.floats(0, 1e5), st.integers(0, 10**5)),
                              st.one_of(st.booleans(), st.text(max_size=3), st.floats(-5, -0.1))),
}, optional={"item_id": st.text(alphabet="ab", min_size=1, max_size=3)})

JS_PAGE_VIEW_KEY = js_function("page_view_key")
VALIDATE = JsFunctions(validate_source=function_source(DESIGNDOCS / "logs" / "validate_doc_update.js", TARGETS[0]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(PAGE_VIEWS)
def test_a_page_views_day_is_the_same_in_both_languages(doc):
    assume(VALIDATE.validate(doc) is None)  # what the database holds, and so what the view sees
    key = JS_PAGE_VIEW_KEY(doc)
    expected = None if key is None else (key[0], f"{key[1]:04d}-{key[2]:02d}-{key[3]:02d}")
    assert cell_of(doc) == expected
