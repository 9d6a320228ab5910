"""`couchrec load` and the bulk loader: formats, rejects, idempotent reloads, exit codes."""

import json
import threading

import pytest
from click.testing import CliRunner

from loader.couchdb.couch import Couch, CouchUnavailable
from loader.devtools.generate import generate
from loader.logs import bulk
from loader.logs.bulk import LoadPlace, load_files
from loader.logs.ingest import PendingLog, write_logs
from service.cli import main
from tests.eventually import eventually, on_every_copy
from tests.faults import FaultyProxy

GOOD = {"log_type": "access", "item_id": "i1", "timestamp": "2026-10-01T00:00:00Z"}


def write_ndjson(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def read_rejects(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def doc_count_is(couch, expected: int) -> None:
    """A cluster's db_info sums one copy of each shard range, which may lag a just-acknowledged write."""
    assert couch.db_info()["doc_count"] == expected


def all_stored(couch, expected: int) -> list[dict]:
    stored = list(couch.all_docs())
    assert len(stored) == expected
    return stored


def test_ndjson_with_bad_records_reports_each_by_line(couch, tmp_path):
    couch.ensure_db()
    source = write_ndjson(tmp_path / "logs.ndjson", [
        GOOD,
        "{not json",
        dict(GOOD, item_id=7),
        "",
        dict(GOOD, _id="_design/x"),
        dict(GOOD, item_id="i2"),
    ])
    rejects = tmp_path / "rejects.ndjson"
    summary = load_files(couch, [str(source)], rejects_path=rejects, progress=False)
    assert (summary.read, summary.created, summary.rejected) == (5, 2, 3)
    assert [(r["position"], r["reason"].split(":")[0]) for r in read_rejects(rejects)] == [
        ("line 2", "not valid JSON"), ("line 3", "item_id"), ("line 5", "_id")]
    eventually(lambda: doc_count_is(couch, 2))


def test_the_same_file_twice_writes_nothing_new(couch, tmp_path):
    source = write_ndjson(tmp_path / "shop.ndjson", generate(seed=5, orders=40))
    lines = len(source.read_text().splitlines())
    first = load_files(couch, [str(source)], rejects_path=tmp_path / "r", batch_size=64, progress=False)
    second = load_files(couch, [str(source)], rejects_path=tmp_path / "r", batch_size=64, progress=False)
    assert (first.created, first.present) == (lines, 0)
    assert (second.created, second.present) == (0, lines)
    eventually(lambda: doc_count_is(couch, lines))


def test_a_load_cut_off_part_way_resumes_where_it_stopped(couch, tmp_path, monkeypatch):
    source = write_ndjson(tmp_path / "shop.ndjson", generate(seed=6, orders=60))
    lines = len(source.read_text().splitlines())
    monkeypatch.setattr(bulk, "PLACE_SAVE_SECONDS", 0.0)  # store the place after every batch
    place_id = LoadPlace(couch, str(source)).doc_id
    proxy = FaultyProxy(couch.url)
    try:
        def some_settled() -> None:
            assert (couch.get_doc(place_id) or {}).get("records", 0) >= 100

        def cut_when_part_is_in() -> None:  # the database goes away once some batches are settled
            eventually(some_settled, timeout=60, interval=0.01)
            proxy.set_mode("down")

        cutter = threading.Thread(target=cut_when_part_is_in)
        cutter.start()
        with pytest.raises(CouchUnavailable):
            load_files(Couch(proxy.url, couch.db), [str(source)], rejects_path=tmp_path / "r", batch_size=20,
                       progress=False)
        cutter.join()
    finally:
        proxy.stop()
    settled = couch.get_doc(place_id)["records"]
    assert 100 <= settled < lines

    # A place written just as the database went away may land after that read (the proxy had passed the
    # request on and dropped only its answer): the rerun starts from whichever place is stored by then.
    resumed = load_files(couch, [str(source)], rejects_path=tmp_path / "r", batch_size=20, progress=False)
    assert settled <= resumed.resumed < lines and resumed.read == lines
    assert resumed.created + resumed.present == lines - resumed.resumed and resumed.clean
    def no_place_left() -> None:  # a finished file leaves no place behind (a cluster's copy may lag the delete)
        assert couch.get_doc(place_id) is None
    eventually(no_place_left)
    eventually(lambda: doc_count_is(couch, lines))
    again = load_files(couch, [str(source)], rejects_path=tmp_path / "r", batch_size=20, progress=False)
    assert (again.resumed, again.present) == (0, lines)


def test_records_without_ids_get_stable_ids_from_their_content(couch, tmp_path):
    source = write_ndjson(tmp_path / "a.ndjson", [GOOD, dict(GOOD, item_id="i2"), {"log_type": "access", "item_id": "i3"}])
    load_files(couch, [str(source)], rejects_path=tmp_path / "r", progress=False)
    again = load_files(couch, [str(source)], rejects_path=tmp_path / "r", progress=False)
    assert (again.created, again.present) == (0, 3)


def test_json_array_and_csv_inputs(couch, tmp_path):
    array = tmp_path / "logs.json"
    array.write_text(json.dumps([GOOD, dict(GOOD, item_id="i9"), 5]))
    csv_file = tmp_path / "logs.csv"
    csv_file.write_text(
        "log_type,timestamp,page_type,generation_time,order_id,items,user_id\n"
        "page_view,2026-10-01T00:00:00Z,home,12.5,,,\n"
        "checkout,2026-10-01T00:01:00Z,,,o1,i1|i2|i3,u1\n"
        "page_view,2026-10-01T00:02:00Z,home,fast,,,\n"
    )
    summary = load_files(couch, [str(array), str(csv_file)], rejects_path=tmp_path / "r", progress=False)
    assert (summary.read, summary.created, summary.rejected) == (6, 4, 2)
    stored = eventually(lambda: all_stored(couch, 4))  # a cluster read may miss a just-acknowledged write
    checkout = next(doc for doc in stored if doc["log_type"] == "checkout")
    assert checkout["items"] == ["i1", "i2", "i3"]
    assert next(doc for doc in stored if doc["log_type"] == "page_view")["generation_time"] == 12.5
    assert [r["position"] for r in read_rejects(tmp_path / "r")] == ["record 3", "line 4"]


def test_a_broken_json_array_is_reported_not_swallowed(couch, tmp_path):
    array = tmp_path / "logs.json"
    array.write_text(json.dumps([GOOD, dict(GOOD, item_id="i9")])[:-10])
    summary = load_files(couch, [str(array)], rejects_path=tmp_path / "r", progress=False)
    assert summary.rejected == 1 and not summary.clean
    assert "the rest of the file was not read" in read_rejects(tmp_path / "r")[0]["reason"]


def test_cli_prints_a_summary_and_fails_when_anything_was_rejected(couch, couchdb_url, tmp_path):
    env = {"COUCHDB_URL": couchdb_url, "COUCHREC_DB": couch.db}
    good = write_ndjson(tmp_path / "good.ndjson", [GOOD, dict(GOOD, item_id="i2")])
    runner = CliRunner()
    first = runner.invoke(main, ["load", str(good), "--quiet", "--rejects", str(tmp_path / "r1")], env=env)
    assert first.exit_code == 0, first.output
    assert "written                  2" in first.output and "docs/s" in first.output
    again = runner.invoke(main, ["load", str(good), "--quiet", "--rejects", str(tmp_path / "r1")], env=env)
    assert again.exit_code == 0
    assert "nothing new: 2 records were already in" in again.output

    bad = write_ndjson(tmp_path / "bad.ndjson", [GOOD, "nope"])
    failed = runner.invoke(main, ["load", str(bad), "--quiet", "--rejects", str(tmp_path / "r2")], env=env)
    assert failed.exit_code == 1
    assert "rejected                 1" in failed.output
    assert f"reasons are in {tmp_path / 'r2'}" in failed.output


def test_cli_says_how_to_start_a_database_when_none_answers(tmp_path):
    env = {"COUCHDB_URL": "http://127.0.0.1:9", "COUCHREC_DB": "x"}
    source = write_ndjson(tmp_path / "a.ndjson", [GOOD])
    result = CliRunner().invoke(main, ["load", str(source), "--quiet", "--retries", "1"], env=env)
    assert result.exit_code == 1
    assert "couchrec devdb start" in result.output


def test_cli_load_leaves_the_views_up_to_date_for_the_first_reader(shop, couchdb_url, tmp_path):
    env = {"COUCHDB_URL": couchdb_url, "COUCHREC_DB": shop.db}
    views = [dict(GOOD, log_type="page_view", page_type="home", generation_time=n, item_id=None) for n in range(30)]
    source = write_ndjson(tmp_path / "views.ndjson", [{k: v for k, v in d.items() if v is not None} for d in views])
    result = CliRunner().invoke(main, ["load", str(source), "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    assert "view indexes up to date in" in result.output and "_design/pages" in result.output
    # update=false reads the index as it stands, without bringing it up to date first. A cluster keeps three
    # copies of each shard and answers from whichever comes first; the load warmed the copies it asked, and
    # CouchDB's background indexer brings the others up within moments.
    def indexed_rows():
        rows = shop.query_view("pages", "generation_time_stats", update="false", reduce=False)["rows"]
        assert len(rows) == 30
    eventually(indexed_rows, timeout=30)


def test_each_log_of_a_batch_gets_its_own_outcome_whatever_order_the_server_answers_in(couch):
    """PouchDB Server answers `_bulk_docs` with the conflicts moved last; outcomes follow the ids."""
    couch.ensure_db()
    assert [o.status for o in write_logs(couch, [PendingLog("old-same", GOOD), PendingLog("old-other", GOOD)])] \
        == ["created", "created"]
    on_every_copy(couch, ["old-same", "old-other"])
    batch = [PendingLog("old-same", GOOD), PendingLog("new-1", GOOD), PendingLog("old-other", dict(GOOD, item_id="i2")),
             PendingLog("new-2", GOOD), PendingLog("twice", dict(GOOD, item_id="i3")), PendingLog("twice", GOOD),
             PendingLog("twice", dict(GOOD, item_id="i3")), PendingLog("new-3", GOOD)]
    statuses = [outcome.status for outcome in write_logs(couch, batch)]
    stored = couch.get_doc("twice")["item_id"]
    twice = ["created", "conflict", "present"] if stored == "i3" else ["conflict", "created", "conflict"]
    assert statuses == ["present", "created", "conflict", "created", *twice, "created"]
