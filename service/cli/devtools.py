"""The commands that run development tools (loader/devtools): `couchrec devdb start | stop`, `couchrec generate`,
and `couchrec designdocs verify`, which maps generated traffic. The only part of the service that imports
loader.devtools (the import-linter contract in pyproject.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from loader.designdocs import deploy, verify
from loader.devtools import devdb as local_db
from loader.devtools.generate import PROFILES
from loader.devtools.generate import generate as generate_docs
from service.cli.connection import reported


@click.group()
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
    with reported(None, local_db.DevDBError):
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
    where = "in memory" if folder is None else f"data in {folder}"
    click.echo(f"PouchDB Server {'started' if started else 'already running'} at {url} ({where})", err=print_url)
    if print_url:
        click.echo(url)


@devdb.command("stop")
@click.option("--port", default=5984, show_default=True, help="Port of the server to stop.")
def devdb_stop(port: int):
    """Stop the PouchDB Server started by `couchrec devdb start`."""
    click.echo("stopped" if local_db.stop(port) else f"no server started by couchrec was running on port {port}")


@click.command("verify")
@click.option("--orders", default=300, show_default=True, help="Orders of generated traffic to map and reduce.")
@click.option("--seed", default=1, show_default=True, help="Seed for the traffic and for the random B-tree shapes.")
@click.option("--trials", default=20, show_default=True, help="Random regroupings tried per view.")
def designdocs_verify(orders: int, seed: int, trials: int):
    """Check every reduce against CouchDB's rereduce and reduce_limit rules, in-process."""
    docs = list(generate_docs(seed=seed, orders=orders))
    compiled = {target: deploy.compile_all(target=target) for target in deploy.TARGETS}
    findings = verify.verify_all(compiled, docs, seed=seed, trials=trials)
    click.echo(f"{'view':<44} {'rows':>8} {'trials':>6} {'largest output':>15}  result")
    for finding in findings:
        result = "ok" if finding.ok else f"FAILED: {finding.problem}"
        click.echo(f"{finding.view:<44} {finding.rows:>8} {finding.trials:>6} {finding.largest_output:>13} B  {result}")
    if not all(finding.ok for finding in findings):
        raise click.ClickException("a reduce would give wrong answers or fail on CouchDB")


@click.command()
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
