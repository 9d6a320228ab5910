"""Real server processes for tests: free ports and the service under gunicorn.

They live in loader/devtools/live.py, where the benchmarks use them too; the tests import them from here.
"""

from loader.devtools.live import COUCHREC, INGEST_KEY, REPO_DIR, LiveService, ServiceFailed, free_port

__all__ = ["COUCHREC", "INGEST_KEY", "REPO_DIR", "LiveService", "ServiceFailed", "free_port"]
