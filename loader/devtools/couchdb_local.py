"""A throwaway CouchDB 3.5 from `../shared/couchdb/couchdb-local` (a single node or a cluster), for the
crash tests and the scaling benchmark."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from loader.devtools.devdb import REPO_DIR

COUCHDB_LOCAL = REPO_DIR.parent / "shared" / "couchdb" / "couchdb-local"


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
