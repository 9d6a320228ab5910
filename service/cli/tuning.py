"""`couchrec evaluate` and `couchrec tune`: the recommenders scored on held-out orders, and the settings chosen."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from loader.couchdb.couch import Couch
from loader.tuning import baskets, evaluate, tune, tuned
from service.cli.connection import connect, reported, settings


@click.command("evaluate")
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
    with reported(None, ValueError, KeyError, prefix="cannot read baskets: "):
        found = baskets.read_baskets(baskets_file)
    couch = connect()
    if per_user:
        return evaluate_per_user(couch, baskets_file, found, k=k, seed=seed, max_test=max_test, json_path=json_path)
    with reported(couch):
        result = evaluate.evaluate(couch.url, found, k=k, test_fraction=test_fraction, seed=seed, max_test=max_test,
                                   neighbours_k=neighbours_k or settings().neighbours_k,
                                   say=lambda message: click.echo(message, err=True))
    click.echo(f"{baskets_file.name}: {len(found)} orders, {result.train_orders} to train on ({result.split} split), "
               f"{result.test_queries} test baskets with one item held out, {result.catalogue} items")
    click.echo(result.markdown())
    click.echo(f"best score: {result.best()}")
    if json_path:
        json_path.write_text(json.dumps({"file": baskets_file.name, **dataclasses.asdict(result)}, indent=2) + "\n")


def evaluate_per_user(couch: Couch, baskets_file: Path, found: list, *, k: int, seed: int, max_test: int | None,
                      json_path: Path | None) -> None:
    with reported(couch, ValueError):
        result = evaluate.evaluate_users(couch.url, found, k=k, seed=seed, max_test=max_test,
                                         say=lambda message: click.echo(message, err=True))
    click.echo(f"{baskets_file.name}: {len(found)} orders, {result.train_orders} to train on (per-user split), "
               f"{result.test_queries} users' last orders with one item held out ({result.bought_before:.0%} of "
               f"them bought by the user before), {result.catalogue} items")
    click.echo(result.markdown())
    click.echo(f"\nthe blend's hit-rate@{k} by history weight and recency half-life:")
    click.echo(result.grid_markdown())
    if json_path:
        json_path.write_text(json.dumps({"file": baskets_file.name, **dataclasses.asdict(result)}, indent=2) + "\n")


@click.command("tune")
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
    with reported(couch, ValueError):
        with tqdm(total=0, unit="user", disable=quiet, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
            result = tune.tune(couch.url, couch, k=k, max_users=max_users, seed=seed, progress=progress,
                               say=lambda message: click.echo(message, err=True))
        if not dry_run:
            tuned.store(couch, result.settings, result.report)
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
