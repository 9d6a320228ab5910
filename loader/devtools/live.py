"""The service running for real, for tests and benchmarks: `couchrec serve` on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from loader.devtools.devdb import REPO_DIR, free_port

COUCHREC = [str(Path(sys.executable).parent / "couchrec")]  # the console script pyproject.toml installs
INGEST_KEY = "test-ingest-key-0123456789"


class ServiceFailed(RuntimeError):
    """The service exited, or did not answer /healthz in time (the message carries its output)."""


class LiveService:
    """`couchrec serve` (gunicorn with service/gunicorn_conf.py) running the real app on a free port."""

    def __init__(self, couchdb_url: str, db: str, extra_env: dict | None = None, workers: int = 2, threads: int = 8):
        self.port = free_port()
        self.couchdb_url, self.db = couchdb_url, db
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"couchrec-service-{self.port}.log", "w+")
        # A generous database timeout: a busy machine must not turn a slow answer into a failed test.
        env = {**os.environ, "COUCHDB_URL": couchdb_url, "COUCHREC_DB": db, "COUCHREC_TIMEOUT": "60",
               "COUCHREC_INGEST_KEYS": INGEST_KEY, **(extra_env or {})}
        self.process = subprocess.Popen(  # the command the Docker image runs (tests/test_compose.py)
            [*COUCHREC, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--threads", str(threads)],
            cwd=REPO_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.wait_until_up()

    def wait_until_up(self, timeout: float = 30.0) -> None:
        """Return once /healthz answers; raise ServiceFailed with the service's output if it exits or stays silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise ServiceFailed(f"the service exited with {self.process.returncode}:\n{self.log.read()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise ServiceFailed("the service did not answer /healthz in time")

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def request(self, method: str, path: str, *, key: str | None = INGEST_KEY, **kwargs) -> requests.Response:
        """Send a request with the ingestion key (`key=None` sends none)."""
        headers = {**({"X-API-Key": key} if key else {}), **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, timeout=30, headers=headers, **kwargs)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s: a worker that gunicorn forks at the moment the master
        handles SIGTERM swallows the worker's copy of it (its handlers are not installed yet), and
        the master then waits its whole graceful_timeout (30 s) for that worker."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
