"""Design docs compile from the folder, install in stages, and are left alone when current."""

import shutil

from click.testing import CliRunner

from loader.designdocs.deploy import (DESIGNDOCS_DIR, REFERENCE_DDOCS, STAGING_SUFFIX, TARGETS, compile_all,
                                      compile_for, diff_all, install_all)
from service.cli import main

ALL_DDOCS = {"_design/history", "_design/logs", "_design/pages", "_design/pages_sketch", "_design/products", "_design/recommend"}


def test_the_folder_compiles_to_design_documents():
    ddocs = compile_all(target="couchdb")
    assert set(ddocs) == ALL_DDOCS
    pages = ddocs["_design/pages"]["views"]
    sketch = ddocs["_design/pages_sketch"]["views"]
    assert sketch["generation_time"]["map"] == pages["generation_time_stats"]["map"]
    assert pages["generation_time_stats"]["reduce"] == "_stats"
    assert pages["generation_time_histogram"]["reduce"] == "_sum"
    assert set(pages) == {"generation_time_stats", "generation_time_histogram"}  # no JS reduce in the hot ddoc
    assert pages["generation_time_stats"]["map"].startswith("function")
    assert "__LIB_" not in pages["generation_time_stats"]["map"]
    assert "__COUCHREC_SCHEMA__" not in ddocs["_design/logs"]["validate_doc_update"]
    co_purchase = ddocs["_design/recommend"]["views"]["co_purchase"]["map"]
    assert "__LIB_" not in co_purchase and "items.slice(0, 50)" in co_purchase
    assert '"page_view"' in ddocs["_design/logs"]["validate_doc_update"]


def test_the_histogram_form_is_compiled_per_server():
    by_target = {target: compile_all(target=target) for target in TARGETS}
    maps = {target: ddocs["_design/pages"]["views"]["generation_time_histogram"]["map"]
            for target, ddocs in by_target.items()}
    assert '"form": "object"' in maps["couchdb"] and '"form": "array"' in maps["pouchdb-server"]
    assert "__COUCHREC_HISTOGRAM__" not in maps["couchdb"]
    assert {k: v for k, v in by_target["couchdb"].items() if k != "_design/pages"} == \
        {k: v for k, v in by_target["pouchdb-server"].items() if k != "_design/pages"}


def test_compile_for_asks_the_server_what_it_is(couch):
    vendor = couch.server_info().vendor
    form = "array" if vendor == "pouchdb-server" else "object"
    assert f'"form": "{form}"' in compile_for(couch)["_design/pages"]["views"]["generation_time_histogram"]["map"]


def test_install_creates_then_writes_nothing_when_current(couch):
    messages = []
    first = install_all(couch, compile_for(couch), say=messages.append)
    assert {c.ddoc_id: c.status for c in first} == dict.fromkeys(ALL_DDOCS - set(REFERENCE_DDOCS), "new")
    revs = {ddoc_id: couch.get_doc(ddoc_id)["_rev"] for ddoc_id in compile_for(couch)}

    second = install_all(couch, compile_for(couch), say=messages.append)
    assert {c.status for c in second} == {"unchanged"}
    assert {ddoc_id: couch.get_doc(ddoc_id)["_rev"] for ddoc_id in compile_for(couch)} == revs
    assert "_design/pages: unchanged, nothing written" in messages


def test_a_changed_view_is_built_under_staging_then_swapped_in(couch, tmp_path):
    install_all(couch, compile_for(couch))
    couch.put_doc("pv1", {"log_type": "page_view", "page_type": "home", "generation_time": 5,
                          "timestamp": "2026-10-01T00:00:00.000Z"})
    folder = tmp_path / "designdocs"
    shutil.copytree(DESIGNDOCS_DIR, folder, symlinks=True)
    map_file = folder / "pages" / "views" / "generation_time_histogram" / "map.js"
    map_file.write_text(map_file.read_text().replace("emit(key, value);", "emit(key, value); emit(key, value);"))
    changed = compile_for(couch, folder)

    [pending] = [c for c in diff_all(couch, changed) if c.status != "unchanged"]
    assert pending.ddoc_id == "_design/pages" and "emit(key, value); emit(key, value);" in pending.diff

    messages = []
    install_all(couch, changed, say=messages.append)
    assert "_design/pages: building its index as _design/pages-staging" in messages
    assert couch.get_doc("_design/pages" + STAGING_SUFFIX) is None
    installed = couch.get_doc("_design/pages")
    assert installed["views"] == changed["_design/pages"]["views"]
    answer = couch.query_view("pages", "generation_time_histogram", reduce=True)
    counts = answer["rows"][0]["value"]
    assert sum(counts.values() if isinstance(counts, dict) else counts) == 2


def test_cli_diff_and_install_report_what_they_do(couch, couchdb_url):
    runner = CliRunner()
    env = {"COUCHDB_URL": couchdb_url, "COUCHREC_DB": couch.db}
    before = runner.invoke(main, ["designdocs", "diff"], env=env)
    assert before.exit_code == 1
    assert "_design/pages: new" in before.output
    installed = runner.invoke(main, ["designdocs", "install"], env=env)
    assert installed.exit_code == 0, installed.output
    assert "_design/pages: created" in installed.output
    again = runner.invoke(main, ["designdocs", "install"], env=env)
    assert "every design doc is already current; nothing was written" in again.output
    after = runner.invoke(main, ["designdocs", "diff"], env=env)
    assert after.exit_code == 0
    assert after.output.splitlines() == [f"{ddoc_id}: unchanged" for ddoc_id in sorted(ALL_DDOCS - set(REFERENCE_DDOCS))]
    assert couch.get_doc("_design/pages_sketch") is None, "production does not build the reference views"
    reference = runner.invoke(main, ["designdocs", "install", "--reference"], env=env)
    assert reference.exit_code == 0 and "_design/pages_sketch: created" in reference.output
    assert "_design/pages: created" not in reference.output


def test_cli_verify_passes_on_the_shipped_design_docs():
    result = CliRunner().invoke(main, ["designdocs", "verify", "--orders", "60", "--trials", "5"])
    assert result.exit_code == 0, result.output
    assert "pages_sketch/generation_time " in result.output
    assert "pages/generation_time_histogram [array]" in result.output and "FAILED" not in result.output
