"""A TCP proxy in front of the database that can fail on demand, for outage tests.

Modes: "pass" forwards both ways; "down" closes every new connection at once
(like a stopped server); "stall" accepts and never answers (like a hung one);
"lose_answers" forwards requests to the database but drops its answers (the
write commits, the client never hears); "slow" holds each answer for `delay`
seconds (every request answers, late). Changing the mode cuts the connections
already open, so pooled clients meet the new mode at once.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

MODES = ("pass", "down", "stall", "lose_answers", "slow")


class FaultyProxy:
    def __init__(self, target_url: str):
        target = urlsplit(target_url)
        self.target = (target.hostname, target.port or 5984)
        self.target_url = target
        self.mode = "pass"
        self.delay = 0.5
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The target's URL, credentials kept, through this proxy."""
        credentials = self.target_url.netloc.rpartition("@")[0]
        return urlunsplit(self.target_url._replace(netloc=(credentials + "@" if credentials else "")
                                                   + f"127.0.0.1:{self.port}"))

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode
        with self.lock:
            doomed, self.open = self.open, set()
        for sock in doomed:
            close(sock)

    def stop(self) -> None:
        self.set_mode("down")
        close(self.listener)

    def track(self, *socks: socket.socket) -> None:
        with self.lock:
            self.open.update(socks)

    def accept_forever(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def handle(self, client: socket.socket) -> None:
        if self.mode == "down":
            close(client)
            return
        self.track(client)
        if self.mode == "stall":
            return  # held open, unanswered, until the mode changes
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            close(client)
            return
        self.track(upstream)
        asked = threading.Event()  # set by a request, cleared once its answer has been held back
        threading.Thread(target=self.pump, args=(client, upstream, False, asked), daemon=True).start()
        self.pump(upstream, client, True, asked)

    def pump(self, source: socket.socket, sink: socket.socket, answers: bool, asked: threading.Event) -> None:
        try:
            while chunk := source.recv(65536):
                if not answers:
                    asked.set()
                elif self.mode == "slow" and asked.is_set():
                    asked.clear()
                    time.sleep(self.delay)
                if not (answers and self.mode == "lose_answers"):
                    sink.sendall(chunk)
        except OSError:
            pass
        if not (answers and self.mode == "lose_answers"):
            close(sink)


def close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
