"""One shot: join CouchDB nodes into one cluster through /_cluster_setup.

    COUCHDB_USER, COUCHDB_PASSWORD   the admin every node was started with
    COUCHDB_NODES                    "couchdb1 couchdb2 couchdb3": host or host:port each; the first coordinates
    COUCHDB_PORT                     the port of a node given without one (5984)

Run again on a finished cluster, it says so and writes nothing. Exit 1 with the node's
answer when a step is refused.
"""

from __future__ import annotations

import os
import sys
import time

import requests


def wait_until_up(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/_up", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"cluster-setup: {base} did not answer /_up within {timeout:.0f} s")
        time.sleep(1)


def join(nodes: list[tuple[str, int]], user: str, password: str) -> None:
    """Enable clustering on every (host, port) node, add the others to the first, finish; skip when finished."""
    session = requests.Session()
    session.auth = (user, password)
    coordinator = "http://%s:%d" % nodes[0]
    for host, port in nodes:
        wait_until_up(f"http://{host}:{port}")
    if session.get(f"{coordinator}/_cluster_setup", timeout=10).json().get("state") == "cluster_finished":
        print(f"cluster-setup: {len(nodes)} nodes already form a cluster; nothing to do")
        return
    admin = {"username": user, "password": password, "bind_address": "0.0.0.0", "node_count": len(nodes)}

    def step(body: dict) -> None:
        answer = session.post(f"{coordinator}/_cluster_setup", json=body, timeout=60)
        if answer.status_code >= 400 and answer.status_code != 409:  # 409: this node is already enabled/added
            sys.exit(f"cluster-setup: {body['action']} {body.get('remote_node') or body.get('host') or ''}: "
                     f"{answer.status_code} {answer.text.strip()}")

    step({"action": "enable_cluster", **admin})
    for host, port in nodes[1:]:
        step({"action": "enable_cluster", **admin, "port": port, "remote_node": host,
              "remote_current_user": user, "remote_current_password": password})
        step({"action": "add_node", "host": host, "port": port, "username": user, "password": password})
    step({"action": "finish_cluster"})
    members = session.get(f"{coordinator}/_membership", timeout=10).json()
    print(f"cluster-setup: joined; cluster_nodes: {', '.join(members['cluster_nodes'])}")


def parse_nodes(text: str, default_port: int) -> list[tuple[str, int]]:
    """`"couchdb1 127.0.0.1:5985"` -> [("couchdb1", default_port), ("127.0.0.1", 5985)]."""
    nodes = []
    for entry in text.split():
        host, _, port = entry.partition(":")
        nodes.append((host, int(port or default_port)))
    return nodes


if __name__ == "__main__":
    join(parse_nodes(os.environ["COUCHDB_NODES"], int(os.environ.get("COUCHDB_PORT", "5984"))),
         os.environ["COUCHDB_USER"], os.environ["COUCHDB_PASSWORD"])
