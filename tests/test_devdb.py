"""`couchrec devdb` starts and stops a real PouchDB Server that keeps its data on disk."""

import requests
from click.testing import CliRunner

from service.cli import main
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
