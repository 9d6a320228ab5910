"""Growth: how couchrec's costs grow with the shop, on one CouchDB, at 10,000, 100,000 and 1,000,000
orders of one grocery-profile stream (seed 23, two years; one database per size, all loaded and indexed
before any is measured further): `couchrec load`, each
design doc's index build, index sizes before and after compaction, both derived databases' rebuilds,
item and cart latency from the neighbour lists (a fresh `couchrec serve`) and from the views, the
worker's catch-up rate on new orders, and each process's peak memory. Browsing: one buying session in
ten keeps its page views and product accesses; cart events are left out (no view reads them). The run
resumes where it stopped: `.venv/bin/python -m bench.growth --dir DIR` (see USAGE)."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import requests

from bench.common import Size, machine, percentile
from loader.couchdb.couch import Couch, CouchError, CouchUnavailable, chunks
from loader.couchdb.indexing import indexer_tasks, wait_until_built
from loader.couchdb.viewcache import ViewCache
from loader.derived.follow import BATCH, Follower
from loader.designdocs.deploy import compile_for
from loader.devtools.generate import generate
from loader.devtools.live import LiveService
from loader.recommendations.neighbours import NeighbourLists, lists_db, rebuild
from loader.recommendations.orders import order_items
from loader.recommendations.recommend import recommend

USAGE = """Everything lives in DIR: the CouchDB's files, the generated orders, state.json with each finished
step's figures. Stopped anywhere, the same command continues: finished steps are kept, a load resumes
where it stopped (couchrec load keeps its place), an index build continues from what CouchDB kept.

  .venv/bin/python -m bench.growth --dir /work/growth-run                 # runs (or resumes) 10k, 100k, 1M
  .venv/bin/python -m bench.growth --dir /work/growth-run --report        # the table from what is done
  .venv/bin/python -m bench.growth --dir /work/growth-run --redo latency  # measure a step again
  .venv/bin/python -m bench.growth --dir /work/growth-run --only 1000000  # one size (state.json keeps the rest:
                                                                          # copy bench/results/couchdb/growth.json there)
"""
STREAM_SEED = 23
STREAM_DAYS = 730
BROWSING_KEPT = 10          # one buying session in ten keeps its browsing
BUILD_ORDER = ("recommend", "history", "products", "pages", "pages_sketch")
COUCHJS_HEAP = 536_870_912  # couchjs -S: 64 MiB runs out of memory on these maps at 100k orders
# Smoosh compacted the recommend index again and again during its first build (twice at 100k orders,
# over and over at 1M): each pass copies the live index. `[smoosh] view_channels` cannot turn its
# built-in channels off (smoosh_utils:channel_list adds them back); a channel whose max_size is 0 finds
# every index too big and queues none (smoosh_server:get_priority). Read live: no restart. The run
# compacts after the builds.
VIEW_COMPACTION_OFF = {"smoosh.ratio_views": "0", "smoosh.slack_views": "0"}
SIZES = {"smoke": (200, 400), "full": (10_000, 100_000, 1_000_000)}
EXTRA = {"smoke": 60, "full": 2_500}          # orders past N: the worker's new orders, then the carts asked
CATCH_UP = {"smoke": 40, "full": 2_000}
QUESTIONS = {"smoke": (10, 10), "full": (200, 200)}  # distinct items, distinct carts
COUCHDB_LOCAL = Path(__file__).resolve().parent.parent.parent / "shared" / "couchdb" / "couchdb-local"
REPO = Path(__file__).resolve().parent.parent
COUCHREC = [str(Path(sys.executable).parent / "couchrec")]


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


# -- the orders ----------------------------------------------------------------------------------


def stream_docs(total_orders: int) -> Iterator[tuple[int, dict]]:
    """(order number, document) for the stream's logs kept, order numbers counting from 0."""
    orders = 0
    for doc in generate(seed=STREAM_SEED, orders=total_orders, days=STREAM_DAYS, profile="grocery"):
        kind = doc["log_type"]
        if kind in ("checkout", "purchase"):
            yield orders, doc
            orders += 1
        elif kind in ("page_view", "access") and zlib.crc32(doc["session_id"].encode()) % BROWSING_KEPT == 0:
            yield orders, doc


def part_path(directory: Path, start: int, end: int) -> Path:
    return directory / "orders" / f"orders-{start:07d}-{end:07d}.ndjson"


def boundaries(sizes: tuple[int, ...], extra: int) -> list[int]:
    return sorted({0, *sizes, *(size + extra for size in sizes)})


def write_parts(directory: Path, sizes: tuple[int, ...], extra: int) -> None:
    """Generate the stream once into one NDJSON file per range between boundaries (skipped when done)."""
    edges = boundaries(sizes, extra)
    if all(part_path(directory, a, b).exists() for a, b in zip(edges, edges[1:])):
        return
    (directory / "orders").mkdir(parents=True, exist_ok=True)
    say(f"generating {edges[-1]:,} orders of the grocery profile into {directory / 'orders'}")
    ranges = list(zip(edges, edges[1:]))
    index, handle, tmp = 0, None, None
    for number, doc in stream_docs(edges[-1]):
        while number >= ranges[index][1]:
            handle.close()
            tmp.rename(part_path(directory, *ranges[index]))
            index, handle = index + 1, None
            if index == len(ranges):
                return
        if handle is None:
            tmp = part_path(directory, *ranges[index]).with_suffix(".partial")
            handle = tmp.open("w")
        handle.write(json.dumps(doc, separators=(",", ":")) + "\n")
    handle.close()
    tmp.rename(part_path(directory, *ranges[index]))


def parts_up_to(directory: Path, edges: list[int], end: int, start: int = 0) -> list[Path]:
    return [part_path(directory, a, b) for a, b in zip(edges, edges[1:]) if a >= start and b <= end]


def read_orders(paths: list[Path], count: int) -> list[dict]:
    """The first `count` order documents in these files."""
    found = []
    for path in paths:
        with path.open() as handle:
            for line in handle:
                doc = json.loads(line)
                if doc["log_type"] in ("checkout", "purchase"):
                    found.append(doc)
                    if len(found) == count:
                        return found
    return found


# -- the run's state -----------------------------------------------------------------------------


@dataclass
class Run:
    directory: Path
    size: str
    q: int | None = None  # shard ranges of each size's database; None: the server's default (2 on CouchDB 3)
    finished: set[tuple[int, str]] = field(default_factory=set)  # (orders, step) this run did: --redo does each once

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    def load(self) -> dict:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {"sizes": {}}

    def save(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_path)


HEARTBEAT_SECONDS = 60.0
running: dict = {}  # the step under way: where to note its seconds so far (see heartbeat)


def heartbeat() -> None:
    """Note the running step's seconds so far in state.json, at most once a minute, so a run killed
    outright (SIGKILL, the machine's session ending) still counts the time it spent."""
    if not running or time.monotonic() - running["noted"] < HEARTBEAT_SECONDS:
        return
    state = running["run"].load()
    state["sizes"].setdefault(str(running["orders"]), {})[running["name"]] = {
        "spent_s": round(running["spent"] + time.monotonic() - running["started"], 1), **running.get("progress", {})}
    running["run"].save(state)
    running["noted"] = time.monotonic()


@contextmanager
def step(run: Run, orders: int, name: str, redo: set[str]) -> Iterator[dict | None]:
    """Yield a dict to fill with the step's figures, or None when the step is done already. The step's
    seconds add up over interrupted attempts (kept in `state.json` while it runs)."""
    state = run.load()
    steps = state["sizes"].setdefault(str(orders), {})
    if name in steps and steps[name].get("done") and (name.split(":")[0] not in redo or (orders, name) in run.finished):
        yield None
        return
    spent = steps.get(name, {}).get("spent_s", 0.0) if not steps.get(name, {}).get("done") else 0.0
    figures: dict = {}
    started = time.monotonic()
    say(f"{orders:,} orders: {name}" + (f" (resumed after {spent:,.0f} s)" if spent else ""))
    running.update(run=run, orders=orders, name=name, spent=spent, started=started, noted=started)
    try:
        yield figures
    except BaseException:
        progress = running.get("progress", {})
        running.clear()
        state = run.load()
        state["sizes"].setdefault(str(orders), {})[name] = {"spent_s": round(spent + time.monotonic() - started, 1),
                                                             **progress}
        run.save(state)
        raise
    running.clear()
    state = run.load()
    state["sizes"].setdefault(str(orders), {})[name] = {
        "done": True, "seconds": round(spent + time.monotonic() - started, 1), **figures,
        "resumed": spent > 0, "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": round(os.getloadavg()[0], 2)}
    run.save(state)
    run.finished.add((orders, name))


# -- processes -----------------------------------------------------------------------------------


def instance_pids(instance: Path) -> dict[str, list[int]]:
    """The beam.smp and couchjs processes of one couchdb-local instance (tagged in their environment)."""
    tag = f"COUCHDB_LOCAL_DIR={instance}".encode()
    found: dict[str, list[int]] = {"beam.smp": [], "couchjs": []}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            name = (proc / "comm").read_text().strip()
            if name in found and tag in (proc / "environ").read_bytes():
                found[name].append(int(proc.name))
        except OSError:
            continue
    return found


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryWatch:
    """Peak resident memory of the CouchDB processes, sampled while a step runs."""

    def __init__(self, instance: Path | None):
        self.instance = instance
        self.peaks: dict[str, int] = {}

    def sample(self) -> None:
        heartbeat()  # every long wait samples memory
        if self.instance is None:
            return
        for name, pids in instance_pids(self.instance).items():
            rss = sum(status_kib(pid, "VmRSS") for pid in pids) if name == "couchjs" else \
                max((status_kib(pid, "VmRSS") for pid in pids), default=0)
            self.peaks[name] = max(self.peaks.get(name, 0), rss)

    def mib(self) -> dict[str, float]:
        return {f"{name}_peak_mib": round(kib / 1024, 1) for name, kib in self.peaks.items()}


def couchrec(url: str, db: str, *args: str, log: Path, watch: MemoryWatch) -> dict:
    """Run a `couchrec` command against `db`; its seconds and peak memory (the child's max RSS)."""
    env = {**os.environ, "COUCHDB_URL": url, "COUCHREC_DB": db}
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ couchrec {' '.join(args)}   # {time.strftime('%H:%M:%S')}\n")
        out.flush()
        process = subprocess.Popen([*COUCHREC, *args], env=env, stdout=out, stderr=out, cwd=REPO)
        peak_kib = 0
        while process.poll() is None:  # VmHWM: the command's own peak (a fork's maxrss starts at ours)
            peak_kib = max(peak_kib, status_kib(process.pid, "VmHWM"))
            watch.sample()
            time.sleep(1)
    if process.returncode != 0:
        raise RuntimeError(f"couchrec {' '.join(args)} exited with {process.returncode}: see {log}")
    return {"seconds": round(time.monotonic() - started, 1), "couchrec_max_rss_mib": round(peak_kib / 1024, 1)}


# -- the steps -----------------------------------------------------------------------------------


def load_step(run: Run, url: str, db: str, files: list[Path], figures: dict, watch: MemoryWatch) -> None:
    result = couchrec(url, db, "load", *map(str, files), "--no-warm", "--quiet", "--rejects",
                      str(run.directory / "rejects.ndjson"), log=run.directory / "commands.log", watch=watch)
    couch = Couch(url, db, timeout=600)
    info = couch.db_info()
    figures.update(result, docs=info["doc_count"], docs_per_second=round(info["doc_count"] / result["seconds"], 1),
                   q=info.get("cluster", {}).get("q"))  # shard ranges (CouchDB); PouchDB Server has none


def build_step(couch: Couch, ddoc_name: str, figures: dict, watch: MemoryWatch, *, from_scratch: bool) -> None:
    """Install one design doc and wait for its index, sampling memory as it goes; `from_scratch` drops
    the index first (to measure a build again)."""
    ddoc = compile_for(couch, reference=True)[f"_design/{ddoc_name}"]
    stored = couch.get_doc(f"_design/{ddoc_name}")
    if from_scratch and stored is not None:
        couch.delete_doc(f"_design/{ddoc_name}", stored["_rev"])
        couch.view_cleanup()
        stored = None
    if stored is None or {k: v for k, v in stored.items() if k != "_rev"} != ddoc:
        couch.put_doc(f"_design/{ddoc_name}", {**ddoc, **({"_rev": stored["_rev"]} if stored else {})})
    started = time.monotonic()
    info = couch.db_info()
    changes = info["doc_count"] + info.get("doc_del_count", 0)  # the feed's length: one row a document

    def progress(line: str) -> None:
        try:
            tasks = indexer_tasks(couch, ddoc_name)
        except (CouchError, CouchUnavailable):
            tasks = []  # the line says so; the next poll asks again
        if tasks:  # kept with the step's seconds, so a stopped build says how far it got; a resumed
            # build's tasks count only the changes since the index's last checkpoint
            left = sum(task.get("total_changes", 0) - task.get("changes_done", 0) for task in tasks)
            running["progress"] = {"changes_done": changes - left, "total_changes": changes}
        watch.sample()
        say(line)

    wait_until_built(couch, ddoc_name, ddoc["views"], say=progress, timeout=12 * 3600, poll=30.0)
    watch.sample()
    rows = {view: couch.query_view(ddoc_name, view, limit=0, reduce=False)["total_rows"] for view in ddoc["views"]}
    figures.update(rows=rows, **(index_sizes(couch, ddoc_name) or {}),
                   this_attempt_s=round(time.monotonic() - started, 1))


def mib(value: int) -> float:
    return round(value / 2**20, 2)


def index_sizes(couch: Couch, ddoc_name: str) -> dict | None:
    """The index file's size and its live data, None where the server does not say (PouchDB Server)."""
    answer = couch.db_request("GET", f"_design/{ddoc_name}/_info", ok=(200, 404))
    info = answer.json().get("view_index") if answer.status_code == 200 else None  # 404: not installed yet
    if not isinstance(info, dict) or "sizes" not in info:
        return None
    return {"file_mib": mib(info["sizes"]["file"]), "live_mib": mib(info["sizes"]["active"])}


def compact_step(couch: Couch, figures: dict, design_docs: tuple[str, ...]) -> None:
    """Compact these view indexes and the database (CouchDB); sizes after."""
    if not couch.is_couchdb():
        figures["skipped"] = "only CouchDB reports index sizes"
        return
    for ddoc_name in design_docs:
        couch.db_request("POST", f"_compact/{ddoc_name}", json={})
    couch.db_request("POST", "_compact", json={})
    time.sleep(2)
    while any(task.get("type") in ("view_compaction", "database_compaction") and couch.db in task.get("database", "")
              for task in couch.active_tasks()):
        time.sleep(5)
    figures.update(sizes(couch))


def sizes(couch: Couch) -> dict:
    info = couch.db_info().get("sizes") or {}
    out = {"database": {"file_mib": mib(info.get("file", 0)), "live_mib": mib(info.get("active", 0))}}
    for ddoc_name in BUILD_ORDER:
        out[ddoc_name] = index_sizes(couch, ddoc_name)
    return out


def latency_step(url: str, couch: Couch, carts: list[list[str]], items: int, figures: dict) -> None:
    """Distinct items and carts: through a freshly started service (the lists), and from the views."""
    rows = couch.query_view("recommend", "item_purchases", group=True)["rows"]
    rng = random.Random(7)
    weighted = rng.choices([row["key"] for row in rows], [row["value"] for row in rows], k=items * 5)
    asked_items = list(dict.fromkeys(weighted))[:items]
    service = LiveService(url, couch.db, workers=2, threads=4)
    session = requests.Session()
    lists = {"item": [], "cart": []}
    try:
        for item in asked_items:
            lists["item"].append(timed(lambda: session.get(f"{service.url}/recommendations/items/{item}", timeout=120)))
        for cart in carts:
            lists["cart"].append(timed(lambda: session.post(f"{service.url}/recommendations/cart",
                                                              json={"items": cart}, timeout=120)))
    finally:
        service.stop()
    views = {"item": [timed(lambda: recommend(ViewCache(couch, update="false", max_age=0), [item]))
                      for item in asked_items[: max(5, items // 4)]],
             "cart": [timed(lambda: recommend(ViewCache(couch, update="false", max_age=0), cart[:50]))
                      for cart in carts[: max(5, len(carts) // 4)]]}
    figures.update({f"{kind}_from_lists": stats_ms(values) for kind, values in lists.items()})
    figures.update({f"{kind}_from_views": stats_ms(values) for kind, values in views.items()})


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    answer = call()
    if isinstance(answer, requests.Response):
        answer.raise_for_status()
    return time.perf_counter() - started


def stats_ms(seconds: list[float]) -> dict:
    ms = [value * 1000 for value in seconds]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 0.95), 2)}


def worker_step(couch: Couch, new_orders: list[dict], attempt: int, figures: dict, *, batch: int = BATCH,
                keep: int = 0) -> None:
    """Time one worker catching up on new orders (`batch` a batch, tallies of `keep`; 0: couchrec's).
    Earlier attempts' copies of them are deleted and the lists rebuilt first, so the worker meets orders
    its tallies have never seen (not the same baskets again)."""
    from bench.common import write_all

    def copy(doc: dict, number: int) -> dict:
        return {**doc, "_id": f"{doc['_id']}-w{number}",
                **({"order_id": f"{doc['order_id']}-w{number}"} if "order_id" in doc else {})}

    earlier = [copy(doc, number)["_id"] for number in range(1, attempt) for doc in new_orders]
    for part in chunks(earlier, 1000):
        rows = couch.db_request("POST", "_all_docs", json={"keys": part}).json()["rows"]
        gone = [{"_id": row["id"], "_rev": row["value"]["rev"], "_deleted": True} for row in rows
                if "value" in row and not row["value"].get("deleted")]
        if gone:
            couch.bulk_docs(gone)
    # the index without them: counted lists read views at their own place and correct by the orders in
    # `_changes`, which a deletion no longer shows
    recommend_views = compile_for(couch, reference=True)["_design/recommend"]["views"]
    wait_until_built(couch, "recommend", recommend_views, say=say, timeout=3600, poll=30.0)
    lists = NeighbourLists(couch, keep=keep)
    rebuilt = rebuild(couch, keep=keep)
    figures["lists_rebuilt_s"] = round(rebuilt.seconds, 1)
    follower = Follower(lists, batch=batch, wait_ms=200)  # the last, empty poll returns at once
    follower.catch_up()  # nothing pending before the new orders
    written = write_all(couch, [copy(doc, attempt) for doc in new_orders])
    started = time.monotonic()
    follower.catch_up()
    seconds = time.monotonic() - started
    figures.update(orders=written, catch_up_s=round(seconds, 1), orders_per_second=round(written / seconds, 1),
                   batch=batch, keep=lists.keep, batches=follower.batches,
                   where_s={key: round(value, 1) for key, value in follower.seconds.items()})


# -- one size ------------------------------------------------------------------------------------


def grow(run: Run, url: str, orders: int, sizes_: tuple[int, ...], redo: set[str], instance: Path | None,
         design_docs: tuple[str, ...] = BUILD_ORDER) -> None:
    """The database of this size: loaded, these design docs' indexes built, then (all of them) compacted."""
    edges = boundaries(sizes_, EXTRA[run.size])
    db = f"growth_{orders}"
    couch = Couch(url, db, timeout=600)
    couch.ensure_db(q=run.q)
    watch = MemoryWatch(instance)
    with step(run, orders, "load", redo) as figures:
        if figures is not None:
            load_step(run, url, db, parts_up_to(run.directory, edges, orders), figures, watch)
            figures.update(watch.mib())
    for ddoc_name in design_docs:
        watch = MemoryWatch(instance)
        with step(run, orders, f"build:{ddoc_name}", redo) as figures:
            if figures is not None:
                build_step(couch, ddoc_name, figures, watch, from_scratch="build" in redo)
                figures.update(watch.mib())
    if design_docs != BUILD_ORDER:
        return
    with step(run, orders, "compact", redo) as figures:
        if figures is not None:
            if couch.is_couchdb():
                figures["before"] = sizes(couch)
            compact_step(couch, figures, BUILD_ORDER)


def measure(run: Run, url: str, orders: int, redo: set[str], instance: Path | None,
            design_docs: tuple[str, ...] = BUILD_ORDER) -> None:
    """What couchrec does with a database of this size: rebuild both derived databases, answer, keep up
    (with `recommend` alone built: all but the page-time summaries)."""
    db = f"growth_{orders}"
    couch = Couch(url, db, timeout=600)
    rebuilds = [("lists_rebuild", ("neighbours", "rebuild", "--quiet"))]
    if "pages" in design_docs:
        rebuilds.append(("summaries_rebuild", ("page-times", "rebuild", "--quiet")))
    for name, command in rebuilds:
        watch = MemoryWatch(instance)
        with step(run, orders, name, redo) as figures:
            if figures is not None:
                figures.update(couchrec(url, db, *command, log=run.directory / "commands.log", watch=watch))
                figures.update(watch.mib())
    new, carts = beyond(run, orders)
    with step(run, orders, "latency", redo) as figures:
        if figures is not None:
            baskets = [items for items in (order_items(doc) for doc in carts) if len(items) > 1]
            latency_step(url, couch, baskets[: QUESTIONS[run.size][1]], QUESTIONS[run.size][0], figures)
    with step(run, orders, "worker", redo) as figures:
        if figures is not None:
            worker_step(couch, new, next_worker_attempt(run), figures)


def next_worker_attempt(run: Run) -> int:
    """The number of a new worker attempt (its orders' copies carry it; every earlier one's are deleted)."""
    state = run.load()
    state["worker_attempts"] = state.get("worker_attempts", 0) + 1
    run.save(state)
    return state["worker_attempts"]


def beyond(run: Run, orders: int) -> tuple[list[dict], list[dict]]:
    """The orders past `orders` in the stream: the worker step's new orders, and those asked as carts."""
    edges = boundaries(SIZES[run.size], EXTRA[run.size])
    past = read_orders(parts_up_to(run.directory, edges, orders + EXTRA[run.size], start=orders), EXTRA[run.size])
    return past[: CATCH_UP[run.size]], past[CATCH_UP[run.size]:]


# -- CouchDB -------------------------------------------------------------------------------------


def couchdb_env() -> dict:
    home = Path(os.environ.get("COUCHDB_LOCAL_HOME", Path.home() / ".cache" / "couchdb-3.5.0"))
    return {**os.environ, "COUCHDB_QUERY_SERVER_JAVASCRIPT":
            f"{home}/bin/couchjs -S {COUCHJS_HEAP} {home}/share/server/main.js"}


def start_couchdb(instance: Path) -> str:
    """The run's CouchDB: started on first use, restarted with its data after an interruption."""
    def local(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(COUCHDB_LOCAL), *args], capture_output=True, text=True, env=couchdb_env(),
                              timeout=600)

    up = local("url", str(instance))
    if up.returncode != 0:
        up = local("restart" if (instance / "couchdb-local.env").exists() else "start", str(instance))
        if up.returncode != 0:
            sys.exit(f"couchdb-local could not start {instance}:\n{up.stderr}")
    url = up.stdout.strip()
    for channel, max_size in VIEW_COMPACTION_OFF.items():
        Couch(url, "_").request("PUT", f"_node/_local/_config/{channel}/max_size", json=max_size)
    return url


# -- the table -----------------------------------------------------------------------------------


def stopped(build: dict) -> str:
    """How far an unfinished build got: ` (41 % mapped in 5,400 s)`, or nothing before it started."""
    if "spent_s" not in build:
        return ""
    share = f"{100 * build['changes_done'] / build['total_changes']:.0f} % mapped in " \
        if build.get("total_changes") else ""
    return f" ({share}{build['spent_s']:,.0f} s)"


def markdown(result: dict) -> list[str]:
    head = ("| orders | load s (docs/s) | `recommend` build s (orders/s) | " + " / ".join(f"`{name}`" for name in BUILD_ORDER[1:])
            + " build s | index live MiB "
            "(per order) | after compaction MiB | lists rebuild s | summaries rebuild s | item p50/p95 ms, "
            "lists | cart p50/p95 ms, lists | item / cart p50 ms, views | worker orders/s | peak MiB: "
            "beam / couchjs / couchrec |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for orders, steps in sorted(result["sizes"].items(), key=lambda pair: int(pair[0])):
        n = int(orders)

        def got(name: str, *path: str, fmt: str = "{}") -> str:
            value = steps.get(name)
            if not value or not value.get("done"):
                return "…"
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return fmt.format(value) if value is not None else "—"

        build = steps.get("build:recommend", {})
        rate = f" ({n / build['seconds']:,.0f})" if build.get("done") else stopped(build)
        others = " / ".join(got(f"build:{name}", "seconds") for name in BUILD_ORDER[1:])
        compaction = steps.get("compact", {})
        live = compaction.get("before") or {  # until compaction (--recommend-first): each build's own figure
            name: steps[f"build:{name}"] for name in BUILD_ORDER if steps.get(f"build:{name}", {}).get("live_mib")}
        live_total = sum(part["live_mib"] for name, part in live.items() if name != "database" and part) or None
        after_total = sum(part["live_mib"] for name, part in compaction.items() if name in BUILD_ORDER and part) or None
        unsized = "not reported" if compaction.get("skipped") else "…"
        which = " `recommend`" if list(live) == ["recommend"] else ""
        peaks = [max((s.get(key, 0) for s in steps.values() if isinstance(s, dict)), default=0)
                 for key in ("beam.smp_peak_mib", "couchjs_peak_mib", "couchrec_max_rss_mib")]
        lines.append(
            f"| {n:,} | {got('load', 'seconds')} ({got('load', 'docs_per_second', fmt='{:,.0f}')}) | "
            f"{got('build:recommend', 'seconds')}{rate} | {others} | "
            + (f"{live_total:,.1f}{which} ({live_total * 2**20 / n / 1024:.1f} KB) | " if live_total else f"{unsized} | ")
            + (f"{after_total:,.1f}{which} | " if after_total else f"{unsized} | ")
            + f"{got('lists_rebuild', 'seconds')} | {got('summaries_rebuild', 'seconds')} | "
            f"{got('latency', 'item_from_lists', 'p50_ms')} / {got('latency', 'item_from_lists', 'p95_ms')} | "
            f"{got('latency', 'cart_from_lists', 'p50_ms')} / {got('latency', 'cart_from_lists', 'p95_ms')} | "
            f"{got('latency', 'item_from_views', 'p50_ms')} / {got('latency', 'cart_from_views', 'p50_ms')} | "
            f"{got('worker', 'orders_per_second')} | {' / '.join(f'{p:,.0f}' for p in peaks)} |")
    return lines


# -- entry points --------------------------------------------------------------------------------


def run(url: str, size: Size) -> dict:
    """The bench suite's section: the same steps at the size's orders, on `url`, in a temporary folder."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="couchrec-growth-") as tmp:
        state = execute(Run(Path(tmp), size.name), url, SIZES[size.name], set(), instance=None)
        for orders in SIZES[size.name]:
            Couch(url, f"growth_{orders}").delete_db()
            for suffix in ("-neighbours", "-pagetimes"):
                Couch(url, f"growth_{orders}{suffix}").delete_db()
    return state


def execute(run_: Run, url: str, sizes_: tuple[int, ...], redo: set[str], instance: Path | None,
            only: int | None = None, recommend_first: bool = False) -> dict:
    write_parts(run_.directory, sizes_, EXTRA[run_.size])
    state = run_.load()
    if "machine" not in state:
        state["machine"] = machine(Couch(url, "_"))
        run_.save(state)
    chosen = [orders for orders in sizes_ if only is None or orders == only]
    if recommend_first:  # what the recommendations need, measured before the other indexes are built and
        # compacted (compacting a 1M index first would cost most of an hour)
        for orders in chosen:
            grow(run_, url, orders, sizes_, redo, instance, design_docs=BUILD_ORDER[:1])
            measure(run_, url, orders, redo, instance, design_docs=BUILD_ORDER[:1])
    for orders in chosen:  # the machine's hours go here, and depend on nothing couchrec's code does
        grow(run_, url, orders, sizes_, redo, instance)
    for orders in chosen:
        measure(run_, url, orders, redo, instance)
    return run_.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="The run's folder: CouchDB, orders, state.json.")
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="full: 10k, 100k, 1M orders.")
    parser.add_argument("--redo", action="append", default=[],
                        help="Measure a step again at every size (load, build, compact, lists_rebuild, "
                             "summaries_rebuild, latency, worker); repeatable.")
    parser.add_argument("--report", action="store_true", help="Print the table from the steps done; run nothing.")
    parser.add_argument("--only", type=int, help="Grow and measure this size only (the others' figures stay "
                                                 "as state.json has them).")
    parser.add_argument("--q", type=int, help="Shard ranges of each size's database (default: the server's, 2); "
                                              "the table goes to growth_q<Q>.json.")
    parser.add_argument("--recommend-first", action="store_true",
                        help="Build `recommend`, then rebuild the lists, time the answers and the worker, before "
                             "the other design docs are built and every index is compacted.")
    args = parser.parse_args()
    run_ = Run(args.dir.resolve(), args.size, args.q)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a step stopped this way notes its seconds
    if not args.report:
        args.dir.mkdir(parents=True, exist_ok=True)
        if not COUCHDB_LOCAL.exists():
            sys.exit(f"{COUCHDB_LOCAL} is not here: the growth run needs the project's shared/ folder beside it")
        instance = run_.directory / "couchdb"
        url = start_couchdb(instance)
        say(f"CouchDB at {instance} (couchjs -S {COUCHJS_HEAP})")
        execute(run_, url, SIZES[args.size], set(args.redo), instance, args.only, args.recommend_first)
    result = {**run_.load(), "size": args.size, **({"q": args.q} if args.q else {})}  # bench/run.py's report
    # takes growth.json from there (the full run starts its own CouchDB)
    out = REPO / "bench" / "results" / "couchdb" / (f"growth_q{args.q}.json" if args.q else "growth.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result)))
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
