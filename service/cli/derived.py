"""`couchrec worker`, `couchrec neighbours rebuild`, `couchrec page-times rebuild`: the derived databases."""

from __future__ import annotations

import signal
import sys
import threading
import time

import click
from tqdm import tqdm

from loader.couchdb import indexing
from loader.couchdb.couch import Couch
from loader.derived import derived, follow
from loader.derived.shards import EVERY_ITEM, Shard
from loader.designdocs import deploy
from service.cli.connection import BUILD_ERRORS, connect, reported, settings
from service.derivations import derivations as every_derivation


def derivations(couch: Couch, shard: Shard = EVERY_ITEM) -> dict[str, derived.Derivation]:
    return every_derivation(couch, k=settings().neighbours_k, shard=shard)


def parse_shard(ctx, param, value: str | None) -> Shard:
    try:
        return Shard.parse(value) if value else EVERY_ITEM
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def follower(bar: tqdm):
    """A progress hook (done, total) that moves `bar`: tqdm shows the rate and the time left."""
    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return progress


def rebuild_command(name: str, batch: int, quiet: bool, unit: str) -> None:
    """Rebuild one derived database with a progress bar, the views brought up to date first."""
    couch = connect(retries=8, timeout=120)
    derivation = derivations(couch)[name]
    with reported(couch, *BUILD_ERRORS):
        indexing.warm_views(couch, deploy.compile_for(couch), say=lambda line: click.echo(line, err=True),
                            timeout=3600)
        with (tqdm(total=0, unit="change", desc="reading", disable=quiet, file=sys.stderr) as reading,
              tqdm(total=0, unit=unit, desc="writing", disable=quiet, file=sys.stderr) as writing):
            done = derived.rebuild(derivation, batch=batch, progress=follower(writing), reading=follower(reading),
                                   settle=derived.default_settle(couch))
    if done.resumed:
        click.echo(f"resumed: {done.resumed} {derivation.name} were written by an interrupted rebuild")
    click.echo(f"{done.items} {derivation.name} written to {derivation.target.db} in {done.seconds:.1f} s")


def rebuild_group(name: str, summary: str, rebuild_help: str, unit: str) -> click.Group:
    """`couchrec <name> rebuild` for one derived database."""
    group = click.group(name, help=summary)(lambda: None)

    @group.command("rebuild", help=rebuild_help + "\n\nSafe while logs are written and while `couchrec worker` "
                   "runs: what changes during the rebuild is replayed by the worker. An interrupted rebuild "
                   "resumes where it stopped when run again.")
    @click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
                  help="Keys computed and written per _bulk_docs request.")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def rebuild(batch: int, quiet: bool):
        rebuild_command(name, batch, quiet, unit)

    return group


neighbours = rebuild_group(
    "neighbours", "Each item's top-K co-bought items, stored in <db>-neighbours for fast recommendations.",
    "Recompute every item's neighbour list from the orders, one pass over them (K = COUCHREC_NEIGHBOURS_K, default 100).", "item")
page_times = rebuild_group(
    "page-times", "Each page type's figures per day and hour, stored in <db>-pagetimes for fast page-time stats.",
    "Recompute every page type's daily and hourly summaries from the views.", "day")


def stop_now(*_) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--batch", default=follow.BATCH, show_default=True, type=click.IntRange(1, 10_000),
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
