"""What every command that talks to CouchDB shares: the settings, the connection, and what a failure says."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import click

from loader.couchdb import indexing
from loader.couchdb.couch import Couch, CouchError, CouchUnavailable, redact
from loader.settings import Settings, SettingsError

BUILD_ERRORS = (indexing.BuildTimeout, indexing.BuildFailed)  # an index build that ran out of time or failed


def settings() -> Settings:
    with reported(None, SettingsError):
        return Settings.from_env()


def connect(*, retries: int = 0, timeout: float | None = None) -> Couch:
    current = settings()
    return Couch(current.couchdb_url, current.db, timeout=timeout or current.timeout, retries=retries)


def database_trouble(exc: Exception, couch: Couch) -> click.ClickException:
    if isinstance(exc, CouchUnavailable):
        return click.ClickException(
            f"{exc}. Start the local database with `couchrec devdb start`, or point COUCHDB_URL at a CouchDB 3."
        )
    return click.ClickException(f"CouchDB at {redact(couch.url)} refused: {exc}")


@contextmanager
def reported(couch: Couch | None, *errors: type[Exception], prefix: str = "", then: str = "") -> Iterator[None]:
    """Turn a failure of the library call inside into the command's one-line error (exit 1, no traceback).

    CouchDB unreachable or refusing (with `couch` given): what to do about it, followed by `then`; any of
    `errors`: `prefix` and the exception's own sentence. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except (CouchUnavailable, CouchError) as exc:
        if couch is None:
            raise
        message = database_trouble(exc, couch).message
        raise click.ClickException(f"{message} {then}" if then else message) from None
    except errors as exc:
        raise click.ClickException(f"{prefix}{exc}") from None
