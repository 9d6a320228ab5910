"""`couchrec designdocs install | diff | warm`: the design documents in designdocs/ against a database
(`designdocs verify`, which maps generated traffic, is in service/cli/devtools.py)."""

from __future__ import annotations

import sys
import time

import click

from loader.couchdb import indexing, security, serverconfig
from loader.designdocs import deploy
from service.cli.connection import BUILD_ERRORS, connect, reported


@click.group("designdocs")
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
                   + "; ".join(f"{ddoc_id}, {why}" for ddoc_id, why in deploy.REFERENCE_DDOCS.items()) + ".")
def designdocs_install(build_timeout: float, member: str | None, member_password: str | None, reference: bool):
    """Install changed design docs without making readers wait on a cold index; admit the service's user.

    Run it with admin credentials in COUCHDB_URL; the service itself needs only a member's.
    """
    if member_password and not member:
        raise click.UsageError("--member-password needs --member (or COUCHREC_SERVICE_USER).")
    couch = connect(timeout=120)
    with reported(couch, *BUILD_ERRORS):
        if warning := serverconfig.view_queue_warning(couch):
            click.echo(f"warning: {warning}", err=True)
        changes = deploy.install_all(couch, deploy.compile_for(couch, reference=reference), say=click.echo,
                                     build_timeout=build_timeout)
        if member:
            if member_password:
                click.echo(f"user {member}: {security.ensure_user(couch, member, member_password)}")
            changed = security.admit_member(couch, member)
            click.echo(f"{couch.db}: {member} {'admitted as a member' if changed else 'is already a member'}")
    if all(change.status == "unchanged" for change in changes):
        click.echo(f"{couch.db}: every design doc is already current; nothing was written")


@designdocs_group.command("diff")
def designdocs_diff():
    """Show how the database's design docs differ from designdocs/ (exit 1 when they do)."""
    couch = connect()
    with reported(couch):
        changes = deploy.diff_all(couch, deploy.compile_for(couch))
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
    with reported(couch, *BUILD_ERRORS):
        warmed = indexing.warm_views(couch, deploy.compile_for(couch), say=click.echo, timeout=timeout)
    click.echo(f"view indexes up to date in {time.monotonic() - started:.1f} s: {', '.join(warmed) or 'none installed'}")
