"""The README documents every route, setting and command there is."""

import re
from pathlib import Path

import click
import pytest

from loader.settings import Settings
from service import create_app
from service.cli import main
from tests.test_cli import all_commands

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SETTINGS_SOURCE = (Path(__file__).resolve().parent.parent / "loader" / "settings.py").read_text()


def routes():
    app = create_app(Settings())
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            yield re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)


@pytest.mark.parametrize("route", sorted(set(routes())))
def test_every_route_is_in_the_readme(route):
    """In backticks, alone or after its method, maybe with a query string: `GET /`, `/stats/page-times?by=day`."""
    pattern = r"`(?:(?:GET|POST|PUT|DELETE) )?" + re.escape(route) + r"(?:\?[^`]*)?`"
    assert re.search(pattern, README), f"{route} is not documented in README.md"


@pytest.mark.parametrize("variable", sorted(set(re.findall(r'"((?:COUCHDB|COUCHREC)_[A-Z_]+)"', SETTINGS_SOURCE))))
def test_every_setting_is_in_the_readme(variable):
    assert f"`{variable}`" in README


@pytest.mark.parametrize("path", [" ".join(path) for path, command in all_commands(main)
                                  if not isinstance(command, click.Group)])
def test_every_command_is_in_the_readme(path):
    assert f"couchrec {path}" in README
