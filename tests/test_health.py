"""/healthz and /readyz against a real service process."""

from loader.designdocs.deploy import compile_for, install_all
from tests.servers import LiveService, free_port


def test_ready_only_once_the_design_docs_are_installed(couchdb_url, couch):
    live = LiveService(couchdb_url, couch.db)
    try:
        assert live.get("/healthz").json() == {"status": "ok"}
        stale = live.get("/readyz")
        assert stale.status_code == 503
        assert set(stale.json()["stale_design_docs"]) == set(compile_for(couch))
        install_all(couch, compile_for(couch))
        ready = live.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "reachable", "design_docs": "current", "warnings": []}
    finally:
        live.stop()


def test_unreachable_database_is_503_with_retry_after_not_a_500():
    live = LiveService(f"http://127.0.0.1:{free_port()}", "shop", extra_env={"COUCHREC_TIMEOUT": "2"})
    try:
        assert live.get("/healthz").status_code == 200
        assert live.get("/readyz").status_code == 503
        stats = live.get("/stats/page-times")
        assert stats.status_code == 503
        assert stats.headers["Retry-After"] == "5"
        write = live.request("PUT", "/logs/x1", json={"log_type": "access", "item_id": "i"})
        assert write.status_code == 503 and write.json()["error"] == "database_unavailable"
    finally:
        live.stop()
