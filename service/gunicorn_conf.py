"""gunicorn's settings for the service: used by `couchrec serve` and by the tests' live service.

Requests spend their time waiting on CouchDB, so each worker process serves many at
once with threads (gthread; measured against gevent and sync workers, see
docs/decisions.md). A request's CouchDB time is bounded by COUCHREC_TIMEOUT
(service/deadline.py), so the worker timeout below only catches a worker that hangs.
Metrics from every worker meet in PROMETHEUS_MULTIPROC_DIR (service/metrics.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from loader.settings import Settings
from service.logs import LOGCONFIG

worker_class = "gthread"
workers = 2
threads = 8
timeout = int(Settings.from_env().timeout) + 30
graceful_timeout = 30
keepalive = 5
logconfig_dict = LOGCONFIG
control_socket_disable = True  # one fixed socket path would be fought over by several services on a host
accesslog = None  # service/logs.py writes one JSON line per request instead

# Set here, in the master, before any worker imports prometheus_client.
OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="couchrec-metrics-")


def on_starting(server):
    """Start the counts from zero: drop samples a previous run left in a given directory."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """Let a dead worker's live gauges go; its counters keep counting in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
