"""Databases a test can crash and bring back: PouchDB Server on disk, and CouchDB 3.5 from
`../shared/couchdb/couchdb-local` (a single node or a 3-node cluster; LocalCouchDB lives in
loader/devtools/couchdb_local.py, where the scaling benchmark uses it too).

Crash tests run where `COUCHREC_CRASH_TESTS=1` (CI sets it for its CouchDB single-node run,
so they run once); the CouchDB ones also need `../shared/couchdb` beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loader.devtools import devdb
from loader.devtools.couchdb_local import COUCHDB_LOCAL, LocalCouchDB
from tests.servers import free_port

__all__ = ["COUCHDB_LOCAL", "LocalCouchDB", "PouchOnDisk", "needs_local_couchdb", "only_on_pouchdb"]

only_on_pouchdb = pytest.mark.skipif(bool(os.environ.get("COUCHDB_URL")),
                                     reason="the PouchDB Server crash test runs in the suite's PouchDB Server run")
needs_local_couchdb = pytest.mark.skipif(
    os.environ.get("COUCHREC_CRASH_TESTS") != "1" or not COUCHDB_LOCAL.exists(),
    reason=f"CouchDB crash tests run with COUCHREC_CRASH_TESTS=1 and {COUCHDB_LOCAL} (CI's single-node run)")


class PouchOnDisk:
    """PouchDB Server with its data on disk: killed with SIGKILL, restarted on the same port."""

    name = "pouchdb-server"

    def __init__(self, directory: Path):
        self.directory, self.port = directory, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = devdb.spawn(port=self.port, data_dir=directory)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        self.process = devdb.spawn(port=self.port, data_dir=self.directory)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
