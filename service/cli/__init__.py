"""The `couchrec` command: local database, design docs, loading, generating, serving.

The group is here; its commands live one module per concern (connection.py holds what they share) and
are registered below. Each command parses its options and calls one library function in loader/.
"""

from __future__ import annotations

import click

from service.cli import data, derived, designdocs, devtools, serve, tuning


@click.group()
@click.version_option(package_name="couchrec")
def main():
    """Page-speed analytics and co-purchase recommendations from a shop's logs, computed by CouchDB views.

    Every command reads COUCHDB_URL (default http://127.0.0.1:5984) and COUCHREC_DB (default shop).
    """


designdocs.designdocs_group.add_command(devtools.designdocs_verify)
for command in (devtools.devdb, designdocs.designdocs_group, data.load, devtools.generate, tuning.evaluate_command,
                tuning.tune_command, derived.neighbours, derived.page_times, derived.worker, serve.serve):
    main.add_command(command)
