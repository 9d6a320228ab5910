"""Item neighbour lists: the step chained after the `recommend` views.

For every item a, one document `n:<a>` in the derived database `<db>-neighbours`
holds n_a, the order count N when it was computed, and a's K co-bought items
with the highest n_ab (ties by item id). Top-K by n_ab is top-K by count and by
confidence (n_ab / n_a), so those two scores are served from the lists exactly
for one seed; scores that read n_b stay on the exact view path. The lists are
recomputed from the views, never edited in place, so writing one twice is
harmless, and the whole database can be dropped and rebuilt at any time.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from loader.bulk import chunks
from loader.couch import Couch, CouchError

DEFAULT_K = 100
LIST_SCORES = ("count", "confidence")  # top-K by n_ab is exactly top-K by these
SUFFIX = "-neighbours"
PREFIX = "n:"  # item ids may start with "_", document ids may not
CHECKPOINT_ID = "_local/couchrec-worker"
QUERY_THREADS = 4
WRITE_ATTEMPTS = 5
CLUSTER_SETTLE = 5.0
TORN_READ_ATTEMPTS = 5
TORN_READ_PAUSE = 1.0


@dataclass
class NeighbourList:
    item: str
    n_a: int
    orders: int
    neighbours: dict[str, int]  # b -> n_ab, the K largest
    complete: bool  # False when a has more than K co-bought items

    @property
    def consistent(self) -> bool:
        """No n_ab can exceed n_a: a list breaking that was read from two shard copies at different points."""
        return self.n_a >= max(self.neighbours.values(), default=0)

    def as_doc(self) -> dict:
        return {"_id": PREFIX + self.item, "item": self.item, "n_a": self.n_a, "orders": self.orders,
                "complete": self.complete, "neighbours": [[b, n_ab] for b, n_ab in self.neighbours.items()],
                "computed_at": time.time()}

    @classmethod
    def from_doc(cls, doc: dict) -> "NeighbourList":
        return cls(doc["item"], doc["n_a"], doc["orders"], {b: n_ab for b, n_ab in doc["neighbours"]}, doc["complete"])


def lists_db(couch: Couch) -> Couch:
    """The derived database beside the log database `couch`."""
    return Couch(couch.url, couch.db + SUFFIX, timeout=couch.timeout)


def top_k(pairs: dict[str, int], k: int) -> dict[str, int]:
    """The k items with the largest n_ab, ties broken by item id (the order recommend() ranks in)."""
    return dict(sorted(pairs.items(), key=lambda pair: (-pair[1], pair[0]))[:k])


def compute_lists(couch: Couch, items: Iterable[str], *, k: int = DEFAULT_K) -> list[NeighbourList]:
    """Compute the lists of `items` from the views: n_a in one query, one grouped co_purchase range per item.

    On a cluster the two reads can be answered by shard copies at different points (quorum writes,
    one copy read per shard range); a list whose n_a is below one of its n_ab is such a torn read,
    and those items are read again, up to TORN_READ_ATTEMPTS times."""
    lists = read_lists(couch, sorted(set(items)), k)
    for _ in range(TORN_READ_ATTEMPTS - 1):
        torn = [one.item for one in lists if not one.consistent]
        if not torn:
            break
        time.sleep(TORN_READ_PAUSE)
        again = {one.item: one for one in read_lists(couch, torn, k)}
        lists = [again.get(one.item, one) for one in lists]
    return lists


def read_lists(couch: Couch, items: list[str], k: int) -> list[NeighbourList]:
    if not items:
        return []
    rows = couch.query_view("recommend", "item_purchases", group=True, keys=items)["rows"]
    counts = {row["key"]: row["value"] for row in rows if row.get("value")}
    orders_rows = couch.query_view("recommend", "orders", group=True, key="orders")["rows"]
    orders = orders_rows[0]["value"] if orders_rows else 0

    def pairs_of(item: str) -> dict[str, int]:
        rows = couch.query_view("recommend", "co_purchase", group=True, startkey=[item], endkey=[item, {}])["rows"]
        return {row["key"][1]: row["value"] for row in rows}

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        all_pairs = list(pool.map(pairs_of, items))
    return [NeighbourList(item, counts.get(item, 0), orders, top_k(pairs, k), len(pairs) <= k)
            for item, pairs in zip(items, all_pairs)]


def write_lists(target: Couch, lists: list[NeighbourList], recompute: Callable[[list[str]], list[NeighbourList]]) -> int:
    """Write lists over whatever revisions are stored; recompute and retry the ones another writer got to first."""
    written = 0
    for _ in range(WRITE_ATTEMPTS):
        if not lists:
            return written
        ids = [PREFIX + one.item for one in lists]
        rows = target.db_request("POST", "_all_docs", json={"keys": ids}).json()["rows"]
        revs = {row["id"]: row["value"]["rev"] for row in rows
                if "value" in row and not row["value"].get("deleted")}
        docs = [{**one.as_doc(), **({"_rev": revs[doc_id]} if doc_id in revs else {})} for one, doc_id in zip(lists, ids)]
        results = target.bulk_docs(docs)
        conflicted = [doc["item"] for doc, result in zip(docs, results) if result.get("error") == "conflict"]
        failed = [result for result in results if result.get("error") not in (None, "conflict")]
        if failed:
            raise CouchError(500, failed[0]["error"], failed[0].get("reason", "a list was not written"))
        written += len(docs) - len(conflicted)
        lists = recompute(conflicted) if conflicted else []  # the other writer may have read older views
    raise CouchError(409, "conflict", f"{len(lists)} lists kept conflicting after {WRITE_ATTEMPTS} attempts")


def read_checkpoint(target: Couch) -> dict | None:
    return target.get_doc(CHECKPOINT_ID)


def write_checkpoint(target: Couch, seq: str | int, current: dict | None) -> dict:
    """Store the `_changes` seq the lists are complete up to (an opaque value, stored as given)."""
    doc = {"_id": CHECKPOINT_ID, "seq": seq, "written_at": time.time(),
           **({"_rev": current["_rev"]} if current else {})}
    doc["_rev"] = target.put_doc(CHECKPOINT_ID, doc)
    return doc


@dataclass
class Rebuild:
    items: int
    seconds: float
    checkpoint: str | int | None  # the seq written as the worker's start, None when one was kept


def is_cluster(couch: Couch) -> bool:
    """True when the server has more than one node (a view read may then miss a fresh write)."""
    response = couch.request("GET", "_membership", ok=(200, 401, 403, 404))
    return response.status_code == 200 and len(response.json().get("cluster_nodes", [])) > 1


def default_settle(couch: Couch) -> float:
    """Seconds to let a cluster's views catch up with what the changes feed shows: 5 on a cluster, else 0."""
    return CLUSTER_SETTLE if is_cluster(couch) else 0.0


def rebuild(couch: Couch, *, k: int = DEFAULT_K, batch: int = 200, settle: float = 0.0,
            progress: Callable[[int, int], None] = lambda done, total: None) -> Rebuild:
    """Recompute every item's list. Changes after the seq read first are left to the worker, which
    replays them (recomputing twice is harmless), so writes during a rebuild are never lost; on a
    cluster, `settle` seconds pass after that read so the views hold every write up to it."""
    started = time.monotonic()
    target = lists_db(couch)
    target.ensure_db()
    start_seq = couch.db_info()["update_seq"]
    time.sleep(settle)
    items = [row["key"] for row in couch.query_view("recommend", "item_purchases", group=True)["rows"]]
    recompute = lambda some: compute_lists(couch, some, k=k)  # noqa: E731
    done = 0
    for part in chunks(items, batch):  # n_a is read with each part's pairs, so a list never mixes two moments
        write_lists(target, recompute(part), recompute)
        done += len(part)
        progress(done, len(items))
    checkpoint = None
    if read_checkpoint(target) is None:
        write_checkpoint(target, start_seq, None)
        checkpoint = start_seq
    return Rebuild(len(items), time.monotonic() - started, checkpoint)


class ListReader:
    """Reads stored lists for serving: every seed's list in one `_all_docs` round trip."""

    def __init__(self, target: Couch):
        self.target = target

    def read(self, items: list[str]) -> dict[str, NeighbourList]:
        """The stored lists of `items` (items without one, or no lists database at all, are left out)."""
        try:
            docs = self.target.get_docs(PREFIX + item for item in items)
        except CouchError as exc:
            if exc.status == 404:  # no lists database yet
                return {}
            raise
        return {doc["item"]: NeighbourList.from_doc(doc) for doc in docs.values()}
