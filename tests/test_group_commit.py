"""Group commit: concurrent single-log writes share `_bulk_docs` requests, and each writer still
gets its own log's outcome, against a real server."""

import pytest

from loader.couch import Couch, CouchUnavailable
from loader.group_commit import GroupCommit
from loader.ingest import CONFLICT, CREATED, PRESENT, PendingLog

LOG = {"log_type": "access", "item_id": "i1", "timestamp": "2026-10-01T00:00:00.000Z"}


def test_logs_queued_together_share_requests_and_each_gets_its_outcome(couch):
    couch.ensure_db()
    commits = GroupCommit(couch)
    logs = [PendingLog(f"g-{n}", dict(LOG, item_id=f"i{n}")) for n in range(60)]
    logs += [PendingLog("g-0", dict(LOG, item_id="i0")), PendingLog("g-1", dict(LOG, item_id="other"))]
    futures = [commits.submit(log) for log in logs]  # queued at once: the flushers take them in a few requests
    outcomes = [future.result(timeout=60) for future in futures]
    statuses = [outcome.status for outcome in outcomes]
    assert statuses[:60] == [CREATED] * 60
    assert statuses[60:] == [PRESENT, CONFLICT]
    assert commits.logs == 62 and commits.requests < 10
    stored = couch.get_docs(log.doc_id for log in logs)
    assert len(stored) == 60 and stored["g-1"]["item_id"] == "i1"


def test_a_log_alone_is_written_at_once(couch):
    couch.ensure_db()
    commits = GroupCommit(couch)
    assert commits.write(PendingLog("alone", LOG)).status == CREATED
    assert commits.requests == 1 and couch.get_doc("alone")["item_id"] == "i1"


def test_an_unreachable_database_fails_every_waiting_write():
    commits = GroupCommit(Couch("http://127.0.0.1:9", "nowhere", timeout=2))
    with pytest.raises(CouchUnavailable):
        commits.write(PendingLog("lost", LOG))
