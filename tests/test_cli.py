"""Every command documents itself."""

import click
import pytest

from service.cli import main


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


@pytest.mark.parametrize("path,command", list(all_commands(main)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_and_option_has_help(path, command):
    assert command.help, f"couchrec {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"couchrec {' '.join(path)} {param.opts[0]} has no help text"
