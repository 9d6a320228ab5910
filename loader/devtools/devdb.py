"""Run the pinned PouchDB Server as the local CouchDB-compatible database.

PouchDB Server writes `config.json` and `log.txt` into its working folder, so it
always runs inside a folder of its own: the data folder on disk, or a fresh
temporary folder in memory mode. It must run without an admin configured
(with one, `PUT /db` crashes it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

REPO_DIR = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_DIR / "devdb"
BINARY = PACKAGE_DIR / "node_modules" / ".bin" / "pouchdb-server"
STATE_DIR = REPO_DIR / ".devdb"


class DevDBError(RuntimeError):
    """The local database could not be started or stopped."""


class PortTaken(DevDBError):
    """Another program (not a server couchrec started) listens on the port."""

    def __init__(self, port: int, holder: str):
        self.port, self.holder = port, holder
        super().__init__(f"port {port} on 127.0.0.1 is taken by {holder}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on the port (a socket in TIME_WAIT does not count, as for Node's listen)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, chosen by the kernel."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def describe_holder(port: int, host: str = "127.0.0.1") -> str:
    """Say what answers on the port: a CouchDB-compatible server with its version, another HTTP server, or neither."""
    try:
        answer = requests.get(f"http://{host}:{port}/", timeout=2)
    except requests.RequestException:
        return "a program that does not answer HTTP"
    try:
        welcome = answer.json()
    except ValueError:
        welcome = None
    if isinstance(welcome, dict) and "express-pouchdb" in welcome:
        return f"PouchDB Server {welcome.get('version', '')}".strip()
    if isinstance(welcome, dict) and "couchdb" in welcome:
        return f"CouchDB {welcome.get('version', '')}".strip()
    server = answer.headers.get("Server")
    return f"an HTTP server that is not CouchDB ({server or f'answered {answer.status_code}'})"


def spawn(*, port: int, data_dir: Path | None, host: str = "127.0.0.1", detach: bool = False,
          ready_timeout: float = 30.0) -> subprocess.Popen:
    """Start PouchDB Server (in memory when `data_dir` is None) and wait until it answers."""
    if not BINARY.exists():
        raise DevDBError(f"PouchDB Server is not installed; run: npm ci --ignore-scripts --prefix {PACKAGE_DIR}")
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="couchrec-pouchdb-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = [str(BINARY), "--host", host, "--port", str(port), "--no-stdout-logs"]
    command += ["--in-memory"] if data_dir is None else ["--dir", str(workdir)]
    output = open(workdir / "server.out", "ab")
    process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT,
                               start_new_session=detach)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevDBError(f"PouchDB Server exited with {process.returncode}; see {workdir / 'server.out'}")
        try:
            if requests.get(url, timeout=1).ok and process.poll() is None:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise DevDBError(f"PouchDB Server did not answer on {url} within {ready_timeout:.0f} s")


def pid_file(port: int) -> Path:
    return STATE_DIR / f"pouchdb-{port}.pid"


def start(*, port: int, data_dir: Path | None) -> tuple[str, bool]:
    """Start a detached server unless one we started is still running; return (url, started).

    Raises PortTaken when another program listens on the port: its answer must never be
    mistaken for the server we meant to start.
    """
    url = f"http://127.0.0.1:{port}"
    if running_pid(port) is not None:
        return url, False
    if not port_is_free(port):
        raise PortTaken(port, describe_holder(port))
    process = spawn(port=port, data_dir=data_dir, detach=True)
    STATE_DIR.mkdir(exist_ok=True)
    pid_file(port).write_text(str(process.pid))
    return url, True


def running_pid(port: int) -> int | None:
    try:
        pid = int(pid_file(port).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def stop(port: int) -> bool:
    """Stop the server started for `port`; False when none was running."""
    pid = running_pid(port)
    pid_file(port).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
