"""`couchrec serve`: the HTTP service under gunicorn."""

from __future__ import annotations

import os
import sys

import click

from service.cli.connection import settings


@click.command()
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
