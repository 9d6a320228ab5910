"""The same code against Apache CouchDB 3.5 in a container, where a Docker engine exists."""

import pytest

docker = pytest.importorskip("docker")


def docker_engine_available() -> bool:
    try:
        docker.from_env().ping()
        return True
    except Exception:  # no socket, no permission, no daemon: all mean "no engine here"
        return False


pytestmark = pytest.mark.skipif(not docker_engine_available(),
                                reason="no Docker engine on this machine; run with COUCHDB_URL against a CouchDB 3 instead")


def test_design_docs_install_and_answer_on_couchdb_3():
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from loader.couchdb.couch import Couch
    from loader.designdocs.deploy import compile_for, install_all

    with DockerContainer("couchdb:3.5").with_env("COUCHDB_USER", "admin").with_env(
            "COUCHDB_PASSWORD", "secret").with_exposed_ports(5984) as container:
        wait_for_logs(container, "Apache CouchDB has started", timeout=120)
        url = f"http://admin:secret@{container.get_container_host_ip()}:{container.get_exposed_port(5984)}"
        couch = Couch(url, "shop")
        assert couch.server_info().vendor == "couchdb"
        install_all(couch, compile_for(couch, reference=True))
        couch.put_doc("pv1", {"log_type": "page_view", "page_type": "home", "generation_time": 5,
                              "timestamp": "2026-10-01T00:00:00.000Z"})
        rows = couch.query_view("pages_sketch", "generation_time", group_level=1)["rows"]
        assert rows[0]["value"]["count"] == 1
