"""What every command that talks to CouchDB shares: the settings, the connection, and what a failure says."""

from __future__ import annotations

import click

from loader.couchdb.couch import Couch, CouchUnavailable, redact
from loader.settings import Settings, SettingsError


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
