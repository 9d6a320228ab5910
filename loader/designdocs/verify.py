"""Prove view reduces behave as CouchDB needs, in-process, without CouchDB.

CouchDB calls a reduce as `reduce(keys, values, false)` on B-tree leaves and as
`reduce(null, values, true)` on inner nodes and when a cluster's coordinator
merges shard answers. PouchDB Server never does the second, so we do it here:
map documents with the real `map.js` in QuickJS, shuffle the rows (shards see
documents in hash order), cut them into random leaves, combine the leaf results
through a random tree of rereduce calls, and require the answer of one single
pass. Every call is held to CouchDB 3.5's reduce_limit rule: couchjs's for JS
reduces (JSON length), couch_query_servers's for builtin `_sum` (Erlang external
term size, computed here as `erlang_term_size`).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable

import quickjs

# couchjs: fail when the output is over 4096 bytes and more than half the input.
JS_REDUCE_LIMIT = 4096
# couch_query_servers: the same rule for builtin _sum, at 4906 bytes of Erlang external term
# (erlang:external_size); past it the group's value becomes {"error": "builtin_reduce_error"}.
BUILTIN_REDUCE_LIMIT = 4906
FLOAT_TOLERANCE = 1e-9

HARNESS = """
var __emitted = [];
function emit(key, value) {
  __emitted.push([key === undefined ? null : key, value === undefined ? null : value]);
}
function log(message) {}
function isArray(value) { return Object.prototype.toString.call(value) === "[object Array]"; }
function sum(values) { var s = 0; for (var i = 0; i < values.length; i++) s += values[i]; return s; }
function __run_map(docJson) {
  __emitted = [];
  __map(JSON.parse(docJson));
  return JSON.stringify(__emitted);
}
function __run_reduce(keysJson, valuesJson, rereduce) {
  return JSON.stringify(__reduce(JSON.parse(keysJson), JSON.parse(valuesJson), rereduce));
}
function __run_validate(newDocJson, oldDocJson) {
  try {
    __validate(JSON.parse(newDocJson), JSON.parse(oldDocJson), {name: null, roles: []}, {});
    return "null";
  } catch (err) {
    return JSON.stringify(err);
  }
}
"""


class ReduceLimitError(AssertionError):
    """A reduce call would fail on CouchDB with reduce_overflow_error."""


class JsFunctions:
    """A design doc's JavaScript functions, loaded into one QuickJS context."""

    def __init__(self, *, map_source: str = "", reduce_source: str = "", validate_source: str = ""):
        self.context = quickjs.Context()
        self.context.eval(HARNESS)
        for name, source in (("__map", map_source), ("__reduce", reduce_source), ("__validate", validate_source)):
            if source:
                self.context.eval(f"var {name} = ({source});")

    def map(self, doc: dict) -> list[list]:
        return json.loads(self.context.get("__run_map")(json.dumps(doc)))

    def reduce(self, keys: list | None, values: list, rereduce: bool) -> Any:
        return json.loads(self.context.get("__run_reduce")(json.dumps(keys), json.dumps(values), rereduce))

    def validate(self, new_doc: dict, old_doc: dict | None = None) -> dict | None:
        """Run validate_doc_update; return what it threw (e.g. {"forbidden": ...}) or None."""
        return json.loads(self.context.get("__run_validate")(json.dumps(new_doc), json.dumps(old_doc)))


def builtin_reduce(name: str, values: list, rereduce: bool) -> Any:
    """CouchDB's Erlang reducers, as far as our views use them."""
    if name == "_count":
        return sum(values) if rereduce else len(values)
    if name == "_sum":
        return sum_values(values)
    if name == "_stats":
        stats = values if rereduce else [stats_of(v) for v in values]
        return {
            "sum": sum(s["sum"] for s in stats),
            "count": sum(s["count"] for s in stats),
            "min": min(s["min"] for s in stats),
            "max": max(s["max"] for s in stats),
            "sumsqr": sum(s["sumsqr"] for s in stats),
        }
    raise ValueError(f"unknown builtin reduce {name}")


def stats_of(value: Any) -> dict:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"_stats needs numbers, the map emitted {value!r}")
    return {"sum": value, "count": 1, "min": value, "max": value, "sumsqr": value * value}


def sum_values(values: list) -> Any:
    """_sum as CouchDB 3.5 computes it: numbers add; arrays add element-wise (the shorter padded
    with zeros); objects add key by key (a key missing from one counts as absent, not zero).
    PouchDB Server 4.2 refuses objects: the histogram is compiled as arrays there."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values)
    if all(isinstance(v, list) for v in values):
        width = max(len(v) for v in values)
        return [sum_values([v[i] for v in values if i < len(v)]) for i in range(width)]
    if all(isinstance(v, dict) for v in values):
        keys = sorted({key for v in values for key in v})
        return {key: sum_values([v[key] for v in values if key in v]) for key in keys}
    raise TypeError(f"_sum needs numbers, arrays of numbers or objects of numbers, got {values[:3]!r}")


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def erlang_term_size(value: Any, *, top: bool = True) -> int:
    """erlang:external_size of `value` as CouchDB holds JSON (EJSON): what its builtin reduce_limit measures.

    Objects are {[{Key, Value}]}, strings binaries, true/false/null atoms, arrays lists (a list
    of integers 0..255 packs as a string).
    """
    size = 1 if top else 0  # the version byte
    if isinstance(value, bool) or value is None:
        return size + 2 + len({True: "true", False: "false", None: "null"}[value])
    if isinstance(value, int):
        if 0 <= value <= 255:
            return size + 2
        if -2**31 <= value < 2**31:
            return size + 5
        return size + 3 + (abs(value).bit_length() + 7) // 8
    if isinstance(value, float):
        return size + 9
    if isinstance(value, str):
        return size + 5 + len(value.encode())
    if isinstance(value, list):
        if not value:
            return size + 1
        if len(value) < 65536 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
            return size + 3 + len(value)
        return size + 6 + sum(erlang_term_size(v, top=False) for v in value)
    if isinstance(value, dict):
        pairs = sum(2 + erlang_term_size(k, top=False) + erlang_term_size(v, top=False) for k, v in value.items())
        return size + 2 + (6 + pairs if value else 1)
    raise TypeError(f"not a JSON value: {value!r}")


def builtin_input_size(keys: list | None, values: list, rereduce: bool) -> int:
    """The term size of what CouchDB hands a builtin reduce: [{Key, Value}] on a leaf, [[[], Value]] on rereduce."""
    if rereduce:
        return 1 + 6 + sum(7 + erlang_term_size(v, top=False) for v in values)
    return 1 + 6 + sum(2 + erlang_term_size(k, top=False) + erlang_term_size(v, top=False) for k, v in zip(keys, values))


@dataclass
class View:
    """One view: its map in QuickJS and its reduce (JavaScript or a builtin name)."""

    name: str
    map_source: str
    reduce_source: str
    functions: JsFunctions = field(init=False)
    largest_output: int = field(default=0, init=False)

    def __post_init__(self):
        builtin = self.reduce_source.startswith("_")
        self.functions = JsFunctions(map_source=self.map_source, reduce_source="" if builtin else self.reduce_source)

    @property
    def builtin(self) -> bool:
        return self.reduce_source.startswith("_")

    def rows(self, docs: Iterable[dict]) -> list[tuple[list, Any]]:
        """Map documents to (key-with-id, value) rows as a B-tree leaf holds them."""
        return [([key, doc["_id"]], value) for doc in docs for key, value in self.functions.map(doc)]

    def reduce(self, keys: list | None, values: list, rereduce: bool) -> Any:
        """One reduce call, held to the reduce_limit rule."""
        if self.builtin:
            output = builtin_reduce(self.reduce_source, values, rereduce)
            limit = BUILTIN_REDUCE_LIMIT
            output_size = erlang_term_size(output)
            input_size = builtin_input_size(keys, values, rereduce)
        else:
            output = self.functions.reduce(keys, values, rereduce)
            limit = JS_REDUCE_LIMIT
            output_size = json_size([output])  # couchjs measures the list of all reductions
            input_size = json_size([keys, values])
        self.largest_output = max(self.largest_output, output_size)
        checked = not self.builtin or self.reduce_source == "_sum"  # CouchDB checks no other builtin
        if checked and output_size > limit and output_size * 2 > input_size:
            raise ReduceLimitError(
                f"{self.name}: reduce output of {output_size} bytes from {input_size} bytes of input "
                f"(rereduce={rereduce}) breaks reduce_limit"
            )
        return output

    def single_pass(self, rows: list) -> Any:
        return self.reduce([key for key, _ in rows], [value for _, value in rows], False)

    def tree_pass(self, rows: list, rng: random.Random, max_fanout: int = 8) -> Any:
        """Reduce shuffled rows in random leaves, then rereduce in a random tree."""
        shuffled = rows[:]
        rng.shuffle(shuffled)
        leaves = random_chunks(shuffled, rng, max_fanout, keep_whole=False)
        level = [self.single_pass(chunk) for chunk in leaves]
        while len(level) > 1:
            level = [self.reduce(None, chunk, True) for chunk in random_chunks(level, rng, max_fanout)]
        # A coordinator rereduces even a single shard's answer.
        return self.reduce(None, level, True)


def random_chunks(items: list, rng: random.Random, max_size: int, keep_whole: bool = True) -> list[list]:
    """Cut `items` into consecutive chunks of 1..max_size; with keep_whole=False, into two or more."""
    chunks, start = [], 0
    while start < len(items):
        size = rng.randint(1, max_size)
        if not keep_whole and start == 0 and size >= len(items) > 1:
            size = len(items) - 1
        chunks.append(items[start:start + size])
        start += size
    return chunks


def same_result(a: Any, b: Any, tolerance: float = FLOAT_TOLERANCE) -> bool:
    """Equal, except that floats may differ by a relative `tolerance` (sums regroup)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_result(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_result(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
    return a == b


@dataclass
class Finding:
    view: str
    rows: int
    trials: int
    largest_output: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_view(view: View, rows: list, rng: random.Random, trials: int) -> Finding:
    """Compare one-pass reduction with `trials` random B-tree reductions of the same rows."""
    problem = None
    try:
        expected = view.single_pass(rows) if rows else None
        for trial in range(trials if rows else 0):
            got = view.tree_pass(rows, rng)
            if not same_result(expected, got):
                problem = f"trial {trial}: a regrouped reduction gave {preview(got)}, one pass gave {preview(expected)}"
                break
    except (ReduceLimitError, TypeError, quickjs.JSException) as exc:
        problem = str(exc)
    return Finding(view.name, len(rows), trials, view.largest_output, problem)


def preview(value: Any, width: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[:width] + "..."


def reduce_views(compiled: dict[str, dict[str, dict]]) -> list[View]:
    """Every view with a reduce, across design docs compiled for each target ({target: ddocs}).

    A view compiled alike for every target appears once; one that differs appears once per
    target, named `<ddoc>/<view> [<form>]` after the histogram form it carries.
    """
    sources: dict[str, dict[tuple[str, str], str]] = {}
    for target, ddocs in compiled.items():
        for ddoc_id, ddoc in ddocs.items():
            for name, spec in ddoc.get("views", {}).items():
                if "reduce" in spec:
                    label = f"{ddoc_id[len('_design/'):]}/{name}"
                    sources.setdefault(label, {}).setdefault((spec["map"], spec["reduce"]), target)
    views = []
    for label, variants in sources.items():
        for (map_source, reduce_source), target in variants.items():
            suffix = f" [{form_of(map_source) or target}]" if len(variants) > 1 else ""
            views.append(View(label + suffix, map_source, reduce_source))
    return views


def form_of(map_source: str) -> str | None:
    """The histogram form a compiled map carries ("object" or "array"), if any."""
    for form in ("object", "array"):
        if f'"form": "{form}"' in map_source:
            return form
    return None


def verify_all(compiled: dict[str, dict[str, dict]], docs: list[dict], *, seed: int = 0, trials: int = 20) -> list[Finding]:
    """Check every reduce view ({target: ddocs}) over the rows `docs` map to, and over each first-key group."""
    rng = random.Random(seed)
    findings = []
    for view in reduce_views(compiled):
        rows = view.rows(docs)
        finding = check_view(view, rows, rng, trials)
        groups: dict[str, list] = {}
        for row in rows:
            key = row[0][0]  # a row is ([key, doc_id], value)
            first = key[0] if isinstance(key, list) and key else key  # what group_level=1 groups by
            groups.setdefault(json.dumps(first), []).append(row)
        for group_rows in groups.values():
            if not finding.ok:
                break
            group_finding = check_view(view, group_rows, rng, max(1, trials // 4))
            if not group_finding.ok:
                finding.problem = group_finding.problem
        finding.largest_output = view.largest_output
        findings.append(finding)
    return findings
