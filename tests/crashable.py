"""Databases a test can crash and bring back: PouchDB Server on disk, and CouchDB 3.5 from
`../shared/couchdb/couchdb-local` (a single node or a 3-node cluster).

Crash tests run where `COUCHREC_CRASH_TESTS=1` (CI sets it for its CouchDB single-node run,
so they run once); the CouchDB ones also need `../shared/couchdb` beside the repository.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from loader import devdb
from tests.servers import REPO_DIR, free_port

COUCHDB_LOCAL = REPO_DIR.parent / "shared" / "couchdb" / "couchdb-local"

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


class LocalCouchDB:
    """A throwaway CouchDB 3.5 (`couchdb-local`): `kill` is kill -9 of the node(s), couchjs included."""

    name = "couchdb"

    def __init__(self, directory: Path | None = None, *, nodes: int = 1, env: dict | None = None):
        self.directory = directory or Path(tempfile.mkdtemp(prefix="couchrec-couchdb-"))
        self.env = {**os.environ, **(env or {})}  # the nodes inherit it (COUCHDB_QUERY_SERVER_JAVASCRIPT, ...)
        self.url = self.run("start", "--fresh", "--nodes", str(nodes))
        ports = self.env_value("HTTP_PORTS").split()
        self.node_urls = [self.url.rsplit(":", 1)[0] + f":{port}" for port in ports]

    def run(self, *args: str) -> str:
        done = subprocess.run([str(COUCHDB_LOCAL), args[0], str(self.directory), *args[1:]],
                              capture_output=True, text=True, timeout=300, env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"couchdb-local {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout.strip()

    def env_value(self, name: str) -> str:
        for line in (self.directory / "couchdb-local.env").read_text().splitlines():
            if line.startswith(name + "="):
                return line.split("=", 1)[1]
        raise KeyError(name)

    def kill(self, node: int | None = None) -> None:
        self.run("kill", *(["--node", str(node)] if node else []))

    def restart(self, node: int | None = None) -> None:
        self.run("restart", *(["--node", str(node)] if node else []))

    def stop(self) -> None:
        self.run("stop")
