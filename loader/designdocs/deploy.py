"""Compile `designdocs/` into design documents, compare them with a database, install them.

Compiling is per server (`target`): the page-times histogram's emitted form is the
one that server's builtin `_sum` can add (`compile_for(couch)` asks the server).

Layout (couchapp style): `designdocs/<ddoc>/views/<view>/map.js` plus either
`reduce.js` (JavaScript) or `reduce` (a builtin name such as `_sum`), and an
optional `designdocs/<ddoc>/validate_doc_update.js`. Snippets shared by several
functions live in `designdocs/_lib/` and are inlined at compile time, so CouchDB,
PouchDB Server and the verifier all run one self-contained function.

Installing a changed design doc with views never makes readers wait on a cold
index: the new version goes to `_design/<ddoc>-staging`, is queried until its
index is built, then copied over `_design/<ddoc>` (CouchDB keys index files by
the views' content, so the copy reuses the built index), and the staging doc is
deleted.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from loader.couchdb.couch import Couch
from loader.couchdb.indexing import wait_until_built
from loader.logs.schema import SCHEMA
from loader.pages.pagetimes import HISTOGRAM

DESIGNDOCS_DIR = Path(__file__).resolve().parents[2] / "designdocs"
STAGING_SUFFIX = "-staging"
# What `_sum` adds on each server: CouchDB objects key by key (a sparse histogram),
# PouchDB Server only numbers and arrays of numbers.
HISTOGRAM_FORMS = {"couchdb": "object", "pouchdb-server": "array"}
TARGETS = tuple(HISTOGRAM_FORMS)
# Text replaced in every function's source, per target.
PLACEHOLDERS: dict[str, Callable[[str], str]] = {
    "__COUCHREC_SCHEMA__": lambda target: json.dumps(SCHEMA, sort_keys=True),
    "__COUCHREC_HISTOGRAM__": lambda target: json.dumps(dict(HISTOGRAM, form=HISTOGRAM_FORMS[target]), sort_keys=True),
}
LIB_DIR = "_lib"  # shared JS snippets, inlined where a function says __LIB_<name>__
LIB_REFERENCE = re.compile(r"__LIB_(\w+)__")


@dataclass(frozen=True)
class Change:
    ddoc_id: str
    status: str  # "unchanged", "new" or "changed"
    diff: str = ""


def function_source(path: Path, target: str) -> str:
    """Read a JS function, dropping its leading comment lines (some engines choke on them),
    with `__LIB_<name>__` replaced by `designdocs/_lib/<name>.js` and the placeholders filled for `target`."""
    lines = path.read_text().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("//")):
        lines.pop(0)
    source = "\n".join(lines).strip()
    source = LIB_REFERENCE.sub(lambda match: function_source(path_of_lib(path, match.group(1)), target).strip(), source)
    for placeholder, value in PLACEHOLDERS.items():
        if placeholder in source:
            source = source.replace(placeholder, value(target))
    return source + "\n"


def path_of_lib(referrer: Path, name: str) -> Path:
    """The shared snippet `name` in the `_lib` folder of the design-doc tree holding `referrer`."""
    for folder in referrer.parents:
        if (folder / LIB_DIR).is_dir():
            return folder / LIB_DIR / f"{name}.js"
    raise FileNotFoundError(f"{referrer} includes {name}, but no {LIB_DIR}/ folder holds it")


def compile_ddoc(folder: Path, target: str) -> dict:
    """Build one design document from its folder, for a server of kind `target`."""
    ddoc: dict = {"_id": f"_design/{folder.name}", "language": "javascript"}
    views_dir = folder / "views"
    if views_dir.is_dir():
        ddoc["views"] = {}
        for view_dir in sorted(p for p in views_dir.iterdir() if p.is_dir()):
            view = {"map": function_source(view_dir / "map.js", target)}
            if (view_dir / "reduce.js").exists():
                view["reduce"] = function_source(view_dir / "reduce.js", target)
            elif (view_dir / "reduce").exists():
                view["reduce"] = (view_dir / "reduce").read_text().strip()
            ddoc["views"][view_dir.name] = view
    validator = folder / "validate_doc_update.js"
    if validator.exists():
        ddoc["validate_doc_update"] = function_source(validator, target)
    return ddoc


def compile_all(root: Path = DESIGNDOCS_DIR, *, target: str) -> dict[str, dict]:
    """Compile every design-doc folder under `root` for `target` (one of TARGETS), keyed by `_design/<name>`."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    return {ddoc["_id"]: ddoc for ddoc in (compile_ddoc(folder, target) for folder in folders)}


def target_of(couch: Couch) -> str:
    """The compile target for the server `couch` talks to (any server but PouchDB Server is a CouchDB)."""
    return "couchdb" if couch.is_couchdb(unknown=True) else "pouchdb-server"


# Design docs kept as a verified reference, not served: built only where asked (`designdocs install
# --reference`; the tests and the benchmarks that read them), so production never waits on their index.
REFERENCE_DDOCS = {
    "_design/pages_sketch": "page times by the JS reduce written for rereduce (count, sum, min, max, sumsqr and a "
                            "log-bucket sketch), checked by `couchrec designdocs verify` and against the builtins",
}


def compile_for(couch: Couch, root: Path = DESIGNDOCS_DIR, *, reference: bool = False) -> dict[str, dict]:
    """Compile the design docs as the server `couch` talks to must hold them: what install, diff,
    warm and readiness compare against; with `reference`, REFERENCE_DDOCS too."""
    return {ddoc_id: ddoc for ddoc_id, ddoc in compile_all(root, target=target_of(couch)).items()
            if reference or ddoc_id not in REFERENCE_DDOCS}


def content(doc: dict | None) -> dict | None:
    """A design document without its revision, for comparison."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in ("_rev", "_revisions")}


def pretty(doc: dict | None) -> list[str]:
    return [] if doc is None else json.dumps(doc, indent=2, sort_keys=True).splitlines(keepends=True)


def diff_all(couch: Couch, ddocs: dict[str, dict]) -> list[Change]:
    """Compare compiled design docs with what the database holds."""
    changes = []
    for ddoc_id, ddoc in ddocs.items():
        current = content(couch.get_doc(ddoc_id))
        if current == ddoc:
            changes.append(Change(ddoc_id, "unchanged"))
            continue
        text = "".join(difflib.unified_diff(pretty(current), pretty(ddoc), f"database/{ddoc_id}", f"designdocs/{ddoc_id}"))
        changes.append(Change(ddoc_id, "new" if current is None else "changed", text))
    return changes


def install_all(
    couch: Couch,
    ddocs: dict[str, dict],
    *,
    say: Callable[[str], None] = lambda message: None,
    build_timeout: float = 3600.0,
) -> list[Change]:
    """Install every design doc that differs from the database; return what was done."""
    couch.ensure_db()
    changes = diff_all(couch, ddocs)
    for change in changes:
        if change.status == "unchanged":
            say(f"{change.ddoc_id}: unchanged, nothing written")
            continue
        ddoc = ddocs[change.ddoc_id]
        if "views" in ddoc:
            install_staged(couch, ddoc, say=say, build_timeout=build_timeout)
        else:
            put_over(couch, ddoc)
        say(f"{change.ddoc_id}: {'created' if change.status == 'new' else 'updated'}")
    if any(change.status != "unchanged" for change in changes) and couch.view_cleanup():
        say("old view indexes cleaned up")
    return changes


def put_over(couch: Couch, ddoc: dict) -> str:
    """Write `ddoc` over whatever revision the database holds; return the new revision."""
    current = couch.get_doc(ddoc["_id"])
    body = dict(ddoc, _rev=current["_rev"]) if current else dict(ddoc)
    return couch.put_doc(ddoc["_id"], body)


def install_staged(couch: Couch, ddoc: dict, *, say: Callable[[str], None], build_timeout: float) -> None:
    """Build the new version's index under a staging name, then swap it in."""
    name = ddoc["_id"][len("_design/"):]
    staging = dict(ddoc, _id=f"_design/{name}{STAGING_SUFFIX}")
    staging_rev = put_over(couch, staging)
    say(f"{ddoc['_id']}: building its index as {staging['_id']}")
    wait_until_built(couch, name + STAGING_SUFFIX, ddoc["views"], say=say, timeout=build_timeout)
    current = couch.get_doc(ddoc["_id"])
    if not couch.copy_doc(staging["_id"], ddoc["_id"], current["_rev"] if current else None):
        put_over(couch, ddoc)  # the server has no COPY (PouchDB Server)
    # CouchDB finds the staging build by the views' signature, so this returns at once; PouchDB
    # Server keys indexes by design-doc name and builds again here, before the install reports done.
    wait_until_built(couch, name, ddoc["views"], say=say, timeout=build_timeout)
    couch.delete_doc(staging["_id"], staging_rev)
