"""Which CouchDB client should couchrec use? Time the calls the service makes.

Runs the same view queries and document reads through couchrec's own thin
layer (loader/couchdb/couch.py: over urllib3 now, over `requests` when the figure in
docs/decisions.md, "The CouchDB client", was first measured) and through `ibmcloudant`, interleaved, on the
same database, and prints the median time per call.

    .venv/bin/pip install -e '.[bench]'
    COUCHDB_URL=http://127.0.0.1:5984 COUCHREC_DB=shop .venv/bin/python bench/client_choice.py
"""

from __future__ import annotations

import json
import os
import statistics
import time
from urllib.parse import urlsplit

from ibm_cloud_sdk_core.authenticators import BasicAuthenticator, NoAuthAuthenticator
from ibmcloudant.cloudant_v1 import CloudantV1

from loader.couchdb.couch import Couch

ROUNDS = int(os.environ.get("ROUNDS", "300"))


def cloudant_client(url: str) -> CloudantV1:
    parts = urlsplit(url)
    auth = BasicAuthenticator(parts.username, parts.password) if parts.username else NoAuthAuthenticator()
    client = CloudantV1(authenticator=auth)
    client.set_service_url(f"{parts.scheme}://{parts.hostname}:{parts.port or 5984}")
    return client


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    url = os.environ.get("COUCHDB_URL", "http://127.0.0.1:5984")
    db = os.environ.get("COUCHREC_DB", "shop")
    couch, cloudant = Couch(url, db), cloudant_client(url)
    doc_id = next(iter(couch.all_docs(batch=1)))["_id"]
    calls = {
        "view, group_level=1": (
            lambda: couch.query_view("pages", "generation_time_stats", group_level=1),
            lambda: cloudant.post_view(db=db, ddoc="pages", view="generation_time_stats", group_level=1).get_result(),
        ),
        "view, array key range": (
            lambda: couch.query_view("pages", "generation_time_stats", group_level=4,
                                     startkey=["product"], endkey=["product", {}]),
            lambda: cloudant.post_view(db=db, ddoc="pages", view="generation_time_stats", group_level=4,
                                       start_key=["product"], end_key=["product", {}]).get_result(),
        ),
        "document read": (
            lambda: couch.get_doc(doc_id),
            lambda: cloudant.get_document(db=db, doc_id=doc_id).get_result(),
        ),
    }
    results = {}
    for name, (ours, theirs) in calls.items():
        assert json.dumps(ours(), sort_keys=True) == json.dumps(theirs(), sort_keys=True), name
        times = {"couchrec": [], "ibmcloudant": []}
        for round_number in range(ROUNDS):  # alternate who goes first, so neither profits from the other
            pair = [("couchrec", ours), ("ibmcloudant", theirs)]
            for client, call in pair if round_number % 2 else reversed(pair):
                times[client].append(timed(call))
        results[name] = {client: statistics.median(values) * 1000 for client, values in times.items()}
    print(f"{'call':<24} {'couchrec ms':>12} {'ibmcloudant ms':>15} {'ratio':>6}   ({ROUNDS} rounds, medians)")
    for name, medians in results.items():
        print(f"{name:<24} {medians['couchrec']:>12.2f} {medians['ibmcloudant']:>15.2f} "
              f"{medians['ibmcloudant'] / medians['couchrec']:>6.2f}")


if __name__ == "__main__":
    main()
