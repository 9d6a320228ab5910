"""Fixtures: a real database server, fresh databases, and the real service under gunicorn.

With COUCHDB_URL set (e.g. http://admin:secret@127.0.0.1:5984) every test runs
against that CouchDB; otherwise an in-memory PouchDB Server is started for the
session on a free port.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager

import pytest

from loader.couchdb.couch import Couch
from loader.couchdb.indexing import warm_views
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools import devdb
from loader.devtools.generate import generate
from loader.logs.bulk import load_files
from loader.recommendations.neighbours import lists_db
from tests.servers import LiveService, free_port


@pytest.fixture(scope="session")
def couchdb_url():
    """The database server under test: COUCHDB_URL, or a PouchDB Server started here."""
    if os.environ.get("COUCHDB_URL"):
        yield os.environ["COUCHDB_URL"].rstrip("/")
        return
    port = free_port()
    process = devdb.spawn(port=port, data_dir=None)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def lifecycle(couch: Couch) -> Couch:
    """`couch` for a fixture's creating and deleting of its database. A busy 3-node cluster can answer either
    with 500 `timeout` and finish it anyway, so these requests retry (a created database answers the retry
    with 412, a deleted one with 404); the test's own `couch` keeps failing fast, as some tests need."""
    return Couch(couch.url, couch.db, retries=4, timeout=60)


@contextmanager
def fresh_database(url: str, *, designdocs: bool):
    couch = Couch(url, f"couchrec_test_{uuid.uuid4().hex[:12]}")
    lifecycle(couch).ensure_db()
    if designdocs:  # the reference views too: tests compare the served figures with them
        install_all(couch, compile_for(couch, reference=True))
    try:
        yield couch
    finally:
        lifecycle(couch).delete_db()


@pytest.fixture
def couch(couchdb_url):
    """A fresh, empty database, deleted after the test."""
    with fresh_database(couchdb_url, designdocs=False) as db:
        yield db


@pytest.fixture
def shop(couchdb_url):
    """A fresh database with couchrec's design documents installed."""
    with fresh_database(couchdb_url, designdocs=True) as db:
        yield db


@pytest.fixture
def lists_cleanup(shop):
    """`shop`, and its neighbour lists' database deleted after the test."""
    yield shop
    lifecycle(lists_db(shop)).delete_db()


@pytest.fixture(scope="module")
def module_shop(couchdb_url):
    """A database with the design documents, shared by one test module."""
    with fresh_database(couchdb_url, designdocs=True) as db:
        yield db


@pytest.fixture(scope="module")
def service(couchdb_url, module_shop):
    """The service running against this module's database."""
    live = LiveService(couchdb_url, module_shop.db)
    yield live
    live.stop()


@contextmanager
def seeded_shop(couchdb_url: str, folder):
    """The service over a generated shop (120 orders and their sessions), loaded by the loader."""
    path = folder / "shop.ndjson"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in generate(seed=21, orders=120, days=10)))
    with fresh_database(couchdb_url, designdocs=True) as db:
        summary = load_files(db, [str(path)], rejects_path=path.with_suffix(".rejects"), progress=False)
        assert summary.clean and summary.created > 0
        warm_views(db, compile_for(db), say=lambda line: None, timeout=300)
        live = LiveService(couchdb_url, db.db, workers=1, threads=4)
        yield live
        live.stop()


@pytest.fixture(scope="session")
def seeded_service(couchdb_url, tmp_path_factory):
    """The generated shop's service, shared by the session's modules (some write logs into it)."""
    with seeded_shop(couchdb_url, tmp_path_factory.mktemp("seeded")) as live:
        yield live


MODULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Add each phase's seconds (setup, and so module fixtures, included) to its test module's total."""
    module = report.nodeid.split("::", 1)[0]
    MODULE_SECONDS[module] = MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """Where the suite's time goes, by module: the table that decides what to make faster."""
    if not MODULE_SECONDS:
        return
    total = sum(MODULE_SECONDS.values())
    terminalreporter.section("seconds per test module (setup, call and teardown)")
    for module, seconds in sorted(MODULE_SECONDS.items(), key=lambda pair: -pair[1])[:20]:
        terminalreporter.write_line(f"{seconds:8.1f} s {100 * seconds / total:5.1f} %  {module}")
    terminalreporter.write_line(f"{total:8.1f} s in all")
