"""`couchrec load`: log records from files into CouchDB."""

from __future__ import annotations

from pathlib import Path

import click

from loader.logs import bulk
from service.cli.connection import connect, reported
from service.cli.designdocs import designdocs_warm


@click.command()
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
    with reported(couch, OSError, prefix="cannot read input: ", then="Records written so far stay written: "
                  "rerun the same command: it resumes where this load stopped."):
        couch.ensure_db()
        summary = bulk.load_files(couch, list(files), batch_size=batch_size, rejects_path=rejects_path,
                                  fmt=fmt, progress=not quiet)
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
