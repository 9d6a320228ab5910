"""`couchrec devdb` starts and stops a real PouchDB Server that keeps its data on disk."""

import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from loader.devtools import devdb
from service.cli import main
from tests.eventually import eventually
from tests.servers import free_port


def test_start_keeps_data_on_disk_across_a_restart_and_stop_stops(tmp_path):
    port, data = str(free_port()), tmp_path / "data"
    runner = CliRunner()
    url = f"http://127.0.0.1:{port}"
    try:
        started = runner.invoke(main, ["devdb", "start", "--port", port, "--data", str(data)])
        assert started.exit_code == 0, started.output
        assert f"started at {url}" in started.output
        assert "already running" in runner.invoke(main, ["devdb", "start", "--port", port, "--data", str(data)]).output
        requests.put(f"{url}/kept", timeout=5).raise_for_status()
        requests.put(f"{url}/kept/d1", json={"a": 1}, timeout=5).raise_for_status()
        assert runner.invoke(main, ["devdb", "stop", "--port", port]).output.strip() == "stopped"
        runner.invoke(main, ["devdb", "start", "--port", port, "--data", str(data)])
        assert requests.get(f"{url}/kept/d1", timeout=5).json()["a"] == 1
        assert (data / "log.txt").exists(), "PouchDB Server must write its log inside its own folder"
    finally:
        runner.invoke(main, ["devdb", "stop", "--port", port])
    try:
        requests.get(url, timeout=1)
        raise AssertionError("the server still answers after stop")
    except requests.ConnectionError:
        pass


def test_memory_and_data_folder_exclude_each_other(tmp_path):
    result = CliRunner().invoke(main, ["devdb", "start", "--in-memory", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "exclude each other" in result.output


@pytest.fixture
def foreign_http_server():
    """A plain HTTP server (not CouchDB, not started by couchrec) holding a port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=20)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def answers(url: str) -> None:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError as exc:
        raise AssertionError(f"{url} does not answer yet") from exc


def test_start_on_a_taken_port_refuses_and_says_what_holds_it(foreign_http_server, tmp_path):
    port = str(foreign_http_server)
    result = CliRunner().invoke(main, ["devdb", "start", "--port", port, "--data", str(tmp_path / "data")])
    assert result.exit_code == 1, result.output
    assert "PouchDB Server started" not in result.output
    assert f"port {port} on 127.0.0.1 is taken by an HTTP server that is not CouchDB (SimpleHTTP" in result.output
    assert f"COUCHDB_URL=http://USER:PASSWORD@127.0.0.1:{port}" in result.output
    assert not (tmp_path / "data").exists(), "nothing was started, so nothing was written"


def test_start_with_any_port_uses_a_free_one_and_says_which(foreign_http_server, tmp_path):
    taken = foreign_http_server
    runner = CliRunner()
    result = runner.invoke(main, ["devdb", "start", "--port", str(taken), "--in-memory", "--any-port", "--print-url"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    port = int(url.rsplit(":", 1)[1])
    try:
        assert port != taken
        assert f"port {taken} on 127.0.0.1 is taken by an HTTP server" in result.stderr
        assert f"starting on free port {port} instead" in result.stderr
        requests.put(f"{url}/shop", timeout=5).raise_for_status()
    finally:
        assert runner.invoke(main, ["devdb", "stop", "--port", str(port)]).output.strip() == "stopped"


def test_start_next_to_another_couchdb_names_it(tmp_path):
    holder_port = free_port()
    holder = devdb.spawn(port=holder_port, data_dir=None)
    try:
        result = CliRunner().invoke(main, ["devdb", "start", "--port", str(holder_port), "--in-memory"])
        assert result.exit_code == 1, result.output
        assert f"port {holder_port} on 127.0.0.1 is taken by PouchDB Server" in result.output
        assert "not a server this checkout started" in result.output
    finally:
        holder.terminate()
        holder.wait(timeout=10)
