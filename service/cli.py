"""The `couchrec` command: local database, design docs, loading, generating, serving."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click
from tqdm import tqdm

from loader import (baskets, bulk, derived, designdocs, evaluate, follow, indexing, neighbours, pagesummaries,
                    security, serverconfig, tune, tuned, verify)
from loader import devdb as local_db
from loader.couch import Couch, CouchError, CouchUnavailable, redact
from service.derivations import derivations as every_derivation
from loader.generate import PROFILES
from loader.generate import generate as generate_docs
from loader.settings import Settings, SettingsError
from loader.shards import EVERY_ITEM, Shard


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def connect(*, retries: int = 0, timeout: float | None = None) -> Couch:
    current = settings()
    return Couch(current.couchdb_url, current.db, timeout=timeout or current.timeout, retries=retries)


def database_trouble(exc: Exception, couch: Couch) -> click.ClickException:
    if isinstance(exc, CouchUnavailable):
        return click.ClickException(
            f"{exc}. Start the local database with `couchrec devdb start`, or point COUCHDB_URL at a CouchDB 3."
        )
    return click.ClickException(f"CouchDB at {redact(couch.url)} refused: {exc}")


@click.group()
@click.version_option(package_name="couchrec")
def main():
    """Page-speed analytics and co-purchase recommendations from a shop's logs, computed by CouchDB views.

    Every command reads COUCHDB_URL (default http://127.0.0.1:5984) and COUCHREC_DB (default shop).
    """


# -- devdb ----------------------------------------------------------------------


@main.group()
def devdb():
    """Run the local PouchDB Server (the CouchDB-compatible database for development and CI)."""


@devdb.command("start")
@click.option("--port", default=5984, show_default=True, help="Port to listen on, on 127.0.0.1.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to keep the data in. Defaults to .devdb/data in the repository.")
@click.option("--in-memory", is_flag=True, help="Keep the data in memory only; it is gone when the server stops.")
@click.option("--any-port", is_flag=True,
              help="When another program holds --port, start on a free port instead (and say which).")
@click.option("--print-url", is_flag=True,
              help="Print only the server's URL on stdout, for scripts; the messages go to stderr.")
def devdb_start(port: int, data_dir: Path | None, in_memory: bool, any_port: bool, print_url: bool):
    """Start PouchDB Server in the background and wait until it answers.

    Refuses (exit 1), saying what holds it, when another program listens on the port, unless --any-port.
    """
    if in_memory and data_dir:
        raise click.UsageError("--in-memory and --data exclude each other.")
    folder = None if in_memory else (data_dir or local_db.STATE_DIR / "data").resolve()
    try:
        try:
            url, started = local_db.start(port=port, data_dir=folder)
        except local_db.PortTaken as taken:
            if not any_port:
                raise click.ClickException(
                    f"{taken}, not a server this checkout started. To use it, set COUCHDB_URL "
                    f"(with credentials if it needs them: COUCHDB_URL=http://USER:PASSWORD@127.0.0.1:{port}); "
                    f"or start the local database on another port: couchrec devdb start --port "
                    f"{local_db.free_port()} (or --any-port)."
                ) from None
            port = local_db.free_port()
            click.echo(f"{taken}; starting on free port {port} instead", err=True)
            url, started = local_db.start(port=port, data_dir=folder)
    except local_db.DevDBError as exc:
        raise click.ClickException(str(exc)) from None
    where = "in memory" if folder is None else f"data in {folder}"
    click.echo(f"PouchDB Server {'started' if started else 'already running'} at {url} ({where})", err=print_url)
    if print_url:
        click.echo(url)


@devdb.command("stop")
@click.option("--port", default=5984, show_default=True, help="Port of the server to stop.")
def devdb_stop(port: int):
    """Stop the PouchDB Server started by `couchrec devdb start`."""
    click.echo("stopped" if local_db.stop(port) else f"no server started by couchrec was running on port {port}")


# -- design docs -------------------------------------------------------------------


@main.group("designdocs")
def designdocs_group():
    """Compile, compare, install and verify the design documents in designdocs/."""


@designdocs_group.command("install")
@click.option("--build-timeout", default=3600.0, show_default=True,
              help="Seconds to wait for a changed design doc's index to build before giving up.")
@click.option("--member", envvar="COUCHREC_SERVICE_USER", default=None,
              help="CouchDB user the service runs as: made a member of the database [env COUCHREC_SERVICE_USER].")
@click.option("--member-password", envvar="COUCHREC_SERVICE_PASSWORD", default=None,
              help="Create that user (or reset its password) in _users [env COUCHREC_SERVICE_PASSWORD].")
@click.option("--reference", is_flag=True,
              help="Also install the reference design docs, which the service does not read: "
                   + "; ".join(f"{ddoc_id}, {why}" for ddoc_id, why in designdocs.REFERENCE_DDOCS.items()) + ".")
def designdocs_install(build_timeout: float, member: str | None, member_password: str | None, reference: bool):
    """Install changed design docs without making readers wait on a cold index; admit the service's user.

    Run it with admin credentials in COUCHDB_URL; the service itself needs only a member's.
    """
    if member_password and not member:
        raise click.UsageError("--member-password needs --member (or COUCHREC_SERVICE_USER).")
    couch = connect(timeout=120)
    try:
        if warning := serverconfig.view_queue_warning(couch):
            click.echo(f"warning: {warning}", err=True)
        changes = designdocs.install_all(couch, designdocs.compile_for(couch, reference=reference), say=click.echo,
                                         build_timeout=build_timeout)
        if member:
            if member_password:
                click.echo(f"user {member}: {security.ensure_user(couch, member, member_password)}")
            changed = security.admit_member(couch, member)
            click.echo(f"{couch.db}: {member} {'admitted as a member' if changed else 'is already a member'}")
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    except (indexing.BuildTimeout, indexing.BuildFailed) as exc:
        raise click.ClickException(str(exc)) from None
    if all(change.status == "unchanged" for change in changes):
        click.echo(f"{couch.db}: every design doc is already current; nothing was written")


@designdocs_group.command("diff")
def designdocs_diff():
    """Show how the database's design docs differ from designdocs/ (exit 1 when they do)."""
    couch = connect()
    try:
        changes = designdocs.diff_all(couch, designdocs.compile_for(couch))
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    for change in changes:
        click.echo(f"{change.ddoc_id}: {change.status}")
        if change.diff:
            click.echo(change.diff)
    if any(change.status != "unchanged" for change in changes):
        sys.exit(1)


@designdocs_group.command("warm")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for the indexes to build.")
def designdocs_warm(timeout: float):
    """Bring every installed view index up to date, so no reader waits for indexing."""
    couch = connect(timeout=120)
    started = time.monotonic()
    try:
        warmed = indexing.warm_views(couch, designdocs.compile_for(couch), say=click.echo, timeout=timeout)
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    except (indexing.BuildTimeout, indexing.BuildFailed) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"view indexes up to date in {time.monotonic() - started:.1f} s: {', '.join(warmed) or 'none installed'}")


@designdocs_group.command("verify")
@click.option("--orders", default=300, show_default=True, help="Orders of generated traffic to map and reduce.")
@click.option("--seed", default=1, show_default=True, help="Seed for the traffic and for the random B-tree shapes.")
@click.option("--trials", default=20, show_default=True, help="Random regroupings tried per view.")
def designdocs_verify(orders: int, seed: int, trials: int):
    """Check every reduce against CouchDB's rereduce and reduce_limit rules, in-process."""
    docs = list(generate_docs(seed=seed, orders=orders))
    compiled = {target: designdocs.compile_all(target=target) for target in designdocs.TARGETS}
    findings = verify.verify_all(compiled, docs, seed=seed, trials=trials)
    click.echo(f"{'view':<44} {'rows':>8} {'trials':>6} {'largest output':>15}  result")
    for finding in findings:
        result = "ok" if finding.ok else f"FAILED: {finding.problem}"
        click.echo(f"{finding.view:<44} {finding.rows:>8} {finding.trials:>6} {finding.largest_output:>13} B  {result}")
    if not all(finding.ok for finding in findings):
        raise click.ClickException("a reduce would give wrong answers or fail on CouchDB")


# -- data --------------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--batch", "batch_size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Documents per _bulk_docs request.")
@click.option("--format", "fmt", type=click.Choice(bulk.FORMATS), default=None,
              help="Input format. Defaults to the file's extension (.ndjson/.jsonl, .json, .csv), else by content.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("couchrec-rejects.ndjson"), show_default=True,
              help="Where to write every rejected record with its position and reason.")
@click.option("--retries", default=8, show_default=True, type=click.IntRange(0, 50),
              help="Retries, with exponential backoff up to 30 s, when CouchDB is unreachable or answers 5xx.")
@click.option("--no-warm", is_flag=True,
              help="Skip bringing the installed views up to date after loading (by default the load pays for "
                   "indexing what it wrote, not the first reader).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def load(files: tuple[str, ...], batch_size: int, fmt: str | None, rejects_path: Path, retries: int,
         no_warm: bool, quiet: bool):
    """Load log records from FILES (NDJSON, JSON array or CSV; - for standard input) into CouchDB."""
    couch = connect(retries=retries, timeout=120)
    try:
        couch.ensure_db()
        summary = bulk.load_files(couch, list(files), batch_size=batch_size, rejects_path=rejects_path,
                                  fmt=fmt, progress=not quiet)
    except (CouchUnavailable, CouchError) as exc:
        raise click.ClickException(
            f"{database_trouble(exc, couch).message} Records written so far stay written: "
            "rerun the same command: it resumes where this load stopped."
        ) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read input: {exc}") from None
    click.echo(f"read {summary.read} records in {summary.seconds:.1f} s ({summary.docs_per_second:,.0f} docs/s)")
    if summary.resumed:
        click.echo(f"resumed: the first {summary.resumed} were settled by an earlier, interrupted load (its "
                   "summary counted them), so they were skipped")
    for label, count in (("written", summary.created), ("already present", summary.present),
                         ("rejected", summary.rejected), ("conflicting id", summary.conflict),
                         ("failed", summary.failed)):
        click.echo(f"  {label:<16}{count:>10}")
    if summary.read and summary.created == 0 and summary.present:
        click.echo(f"nothing new: {summary.present} records were already in {couch.db}")
    if summary.created and not no_warm:
        click.get_current_context().invoke(designdocs_warm)
    if not summary.clean:
        raise click.ClickException(f"some records were not loaded; reasons are in {rejects_path}")


@main.command()
@click.option("--seed", default=42, show_default=True, help="Seed; the same seed gives the same documents.")
@click.option("--orders", default=3000, show_default=True, type=click.IntRange(1),
              help="Orders to generate (about 23 documents each, with the browsing around them; 28 for grocery).")
@click.option("--days", default=28, show_default=True, type=click.IntRange(1), help="Days the traffic spans.")
@click.option("--profile", type=click.Choice(PROFILES), default="shop", show_default=True,
              help="shop: 400 items in hidden co-purchase groups. grocery: a real grocery set's shape (a long-tailed "
                   "catalogue, ~10 items an order, users who buy the same things again).")
@click.option("--out", type=click.File("w"), default="-", help="File to write NDJSON to. Defaults to standard output.")
def generate(seed: int, orders: int, days: int, profile: str, out):
    """Generate synthetic shop traffic as NDJSON log documents."""
    encode = json.JSONEncoder(separators=(",", ":")).encode
    out.writelines(encode(doc) + "\n" for doc in generate_docs(seed=seed, orders=orders, days=days, profile=profile))


@main.command("evaluate")
@click.argument("baskets_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 100), help="Length of each recommendation list.")
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0.01, 0.9),
              help="Share of the orders held back for testing (the latest ones when every order has a timestamp).")
@click.option("--seed", default=7, show_default=True, help="Seed for a random split and for the held-out items.")
@click.option("--max-test", type=click.IntRange(1), default=None,
              help="Ask for at most this many test baskets. Defaults to all of them.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results as JSON to this file.")
@click.option("--neighbours-k", type=click.IntRange(1), default=None,
              help="Neighbours kept per item for the '(lists)' rows. Defaults to COUCHREC_NEIGHBOURS_K (100).")
@click.option("--per-user", is_flag=True,
              help="Test each user's last order (one item held out, the rest as the cart) against the cart's "
                   "co-purchases, the user's history and their blend, instead of the latest orders.")
def evaluate_command(baskets_file: Path, k: int, test_fraction: float, seed: int, max_test: int | None,
                     json_path: Path | None, neighbours_k: int | None, per_user: bool):
    """Score every recommender against held-out purchases from BASKETS_FILE, in a fresh database.

    BASKETS_FILE: JSON lines with an `items` list per order (or checkout/purchase logs), a CSV with
    order_id,item_id columns (user_id and timestamp optional), or a market-basket ARFF file.
    """
    try:
        found = baskets.read_baskets(baskets_file)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read baskets: {exc}") from None
    couch = connect()
    if per_user:
        return evaluate_per_user(couch, baskets_file, found, k=k, seed=seed, max_test=max_test, json_path=json_path)
    try:
        result = evaluate.evaluate(couch.url, found, k=k, test_fraction=test_fraction, seed=seed, max_test=max_test,
                                   neighbours_k=neighbours_k or settings().neighbours_k,
                                   say=lambda message: click.echo(message, err=True))
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    click.echo(f"{baskets_file.name}: {len(found)} orders, {result.train_orders} to train on ({result.split} split), "
               f"{result.test_queries} test baskets with one item held out, {result.catalogue} items")
    click.echo(result.markdown())
    click.echo(f"best score: {result.best()}")
    if json_path:
        json_path.write_text(json.dumps({"file": baskets_file.name, **dataclasses.asdict(result)}, indent=2) + "\n")


def evaluate_per_user(couch: Couch, baskets_file: Path, found: list, *, k: int, seed: int, max_test: int | None,
                      json_path: Path | None) -> None:
    try:
        result = evaluate.evaluate_users(couch.url, found, k=k, seed=seed, max_test=max_test,
                                         say=lambda message: click.echo(message, err=True))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    click.echo(f"{baskets_file.name}: {len(found)} orders, {result.train_orders} to train on (per-user split), "
               f"{result.test_queries} users' last orders with one item held out ({result.bought_before:.0%} of "
               f"them bought by the user before), {result.catalogue} items")
    click.echo(result.markdown())
    click.echo(f"\nthe blend's hit-rate@{k} by history weight and recency half-life:")
    click.echo(result.grid_markdown())
    if json_path:
        json_path.write_text(json.dumps({"file": baskets_file.name, **dataclasses.asdict(result)}, indent=2) + "\n")


@main.command("tune")
@click.option("--max-users", default=tune.DEFAULT_MAX_USERS, show_default=True, type=click.IntRange(1),
              help="Ask at most this many returning users' last orders (a seeded sample past it): bounds the time.")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 100), help="Length of each list.")
@click.option("--seed", default=7, show_default=True, help="Seed for the sample and the held-out items.")
@click.option("--dry-run", is_flag=True, help="Only report: store nothing.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report as JSON to this file.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tune_command(max_users: int, k: int, seed: int, dry_run: bool, json_path: Path | None, quiet: bool):
    """Choose the co-purchase score, min_support, history weight and recency half-life on the shop's own orders.

    Each returning user's last order is held out (one item at a time, the rest as the cart) and the rest are
    trained on in a fresh database beside COUCHREC_DB; the best settings are stored in COUCHREC_DB as
    _local/couchrec-tuning, where the service reads them (environment variables still override)."""
    couch = connect(timeout=120)
    try:
        with tqdm(total=0, unit="user", disable=quiet, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
            result = tune.tune(couch.url, couch, k=k, max_users=max_users, seed=seed, progress=progress,
                               say=lambda message: click.echo(message, err=True))
        if not dry_run:
            tuned.store(couch, result.settings, result.report)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    report = result.report
    click.echo(f"{report['orders']} orders; {report['asked_users']} of {report['returning_users']} returning users "
               f"asked{' (a sample: --max-users ' + str(max_users) + ')' if report['sampled'] else ''}; "
               f"{report['cold_start_users']} users with one order (cold start); "
               f"{report['seconds']['total']:.0f} s")
    click.echo(result.markdown())
    click.echo("chosen: " + ", ".join(f"{name} {value}" for name, value in result.settings.as_dict().items()))
    click.echo("dry run: nothing stored" if dry_run else f"stored in {couch.db} as {tuned.TUNING_ID}; "
               f"environment variables ({', '.join(tuned.ENVIRONMENT.values())}) still override it")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


# -- derived databases: neighbour lists, page-time summaries ------------------------------


def derivations(couch: Couch, shard: Shard = EVERY_ITEM) -> dict[str, derived.Derivation]:
    return every_derivation(couch, k=settings().neighbours_k, shard=shard)


def parse_shard(ctx, param, value: str | None) -> Shard:
    try:
        return Shard.parse(value) if value else EVERY_ITEM
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def rebuild_command(name: str, batch: int, quiet: bool, unit: str) -> None:
    """Rebuild one derived database with a progress bar, the views brought up to date first."""
    couch = connect(retries=8, timeout=120)
    derivation = derivations(couch)[name]
    try:
        indexing.warm_views(couch, designdocs.compile_for(couch), say=lambda line: click.echo(line, err=True),
                            timeout=3600)
        with tqdm(total=0, unit=unit, disable=quiet, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
            done = derived.rebuild(derivation, batch=batch, progress=progress, settle=derived.default_settle(couch))
    except (CouchUnavailable, CouchError) as exc:
        raise database_trouble(exc, couch) from None
    except (indexing.BuildTimeout, indexing.BuildFailed) as exc:
        raise click.ClickException(str(exc)) from None
    if done.resumed:
        click.echo(f"resumed: {done.resumed} {derivation.name} were written by an interrupted rebuild")
    click.echo(f"{done.items} {derivation.name} written to {derivation.target.db} in {done.seconds:.1f} s")


def rebuild_group(name: str, summary: str, rebuild_help: str, unit: str) -> None:
    """Add `couchrec <name> rebuild` for one derived database."""
    group = main.group(name, help=summary)(lambda: None)

    @group.command("rebuild", help=rebuild_help + "\n\nSafe while logs are written and while `couchrec worker` "
                   "runs: what changes during the rebuild is replayed by the worker. An interrupted rebuild "
                   "resumes where it stopped when run again.")
    @click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
                  help="Keys computed and written per _bulk_docs request.")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def rebuild(batch: int, quiet: bool):
        rebuild_command(name, batch, quiet, unit)


rebuild_group("neighbours", "Each item's top-K co-bought items, stored in <db>-neighbours for fast recommendations.",
              "Recompute every item's neighbour list from the views (K = COUCHREC_NEIGHBOURS_K, default 100).", "item")
rebuild_group("page-times", "Each page type's figures per day and hour, stored in <db>-pagetimes for fast page-time "
              "stats.", "Recompute every page type's daily and hourly summaries from the views.", "day")


def stop_now(*_) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Most changes taken from the changes feed at once.")
@click.option("--settle", type=click.FloatRange(0), default=None,
              help="Seconds after which a batch is recomputed once more, for views that lag the feed. "
                   "Defaults to 5 on a cluster, 0 on a single node.")
@click.option("--only", type=click.Choice(["neighbours", "page-times"]), default=None,
              help="Keep just this derived database fresh (default: both).")
@click.option("--shard", default=None, callback=parse_shard, metavar="I/W",
              help="Worker I of W sharing the neighbour lists (e.g. 0/2 and 1/2): each keeps the lists of the items "
                   "hashed to it, its part of the best sellers and a checkpoint of its own; worker 0 also keeps "
                   "the page-time summaries.")
def worker(batch: int, settle: float | None, only: str | None, shard: Shard):
    """Keep the neighbour lists and page-time summaries fresh: follow the changes feed until stopped
    (Ctrl-C or SIGTERM), one thread each.

    Builds a derived database (or a shard's part of it) first when it has none. Database outages are
    reported and retried."""
    couch = connect(timeout=60)
    stopping = threading.Event()
    threads = [threading.Thread(target=follow.follow, daemon=True, name=name, kwargs=dict(
        derivation=derivation, batch=batch, settle=settle, stop=stopping.is_set,
        say=lambda line, name=name: click.echo(f"{time.strftime('%H:%M:%S')} [{name}] {line}", err=True)))
        for name, derivation in derivations(couch, shard).items() if only in (None, name)]
    if not threads:
        raise click.UsageError(f"worker {shard} keeps no {only}: only worker 0 keeps the page-time summaries")
    signal.signal(signal.SIGTERM, stop_now)  # safe at any point: an unfinished batch is replayed on restart
    for thread in threads:
        thread.start()
    try:
        while all(thread.is_alive() for thread in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stopping.set()
        click.echo("worker stopped", err=True)
        return
    raise click.ClickException("a follower stopped on an unexpected error (its traceback is above)")


# -- service -----------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, help="Port to bind.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True,
              help="Requests each worker serves at once (threads waiting on CouchDB).")
def serve(host: str, port: int, workers: int, threads: int):
    """Run the HTTP service under gunicorn (settings in service/gunicorn_conf.py); logs are JSON lines on stderr."""
    settings()  # fail here, with a clear message, on a bad setting
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_conf",
                               "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", str(threads),
                               "service:create_app()"])
