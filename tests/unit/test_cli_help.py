"""Every `hub` command's help says what it does, its defaults and an example (hub/cli_help.py)."""

from __future__ import annotations

import argparse

import pytest

from hub.cli import _parser
from hub.cli_help import EXAMPLES, commands

pytestmark = pytest.mark.unit


def _all() -> list[tuple[str, argparse.ArgumentParser]]:
    return list(commands(_parser()))


def test_every_command_says_what_it_does_and_shows_an_example() -> None:
    found = _all()
    assert len(found) > 25
    for path, parser in found:
        assert parser.description, f"hub {path}: no description"
        leaf = not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if leaf:
            assert path in EXAMPLES, f"hub {path}: no example in hub/cli_help.py EXAMPLES"
            assert EXAMPLES[path].startswith(f"hub {path}"), EXAMPLES[path]
            assert f"example:\n  hub {path}" in parser.format_help(), f"hub {path}: the example is not in its help"


def test_every_argument_is_explained_and_defaults_are_shown() -> None:
    for path, parser in _all():
        parser.format_help()  # renders
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            name = action.option_strings[0] if action.option_strings else action.dest
            assert action.help, f"hub {path} {name}: no help"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in (parser._get_formatter()._get_help_string(action) or ""), f"hub {path} {name}"


def test_no_stale_examples() -> None:
    paths = {path for path, _ in _all()}
    assert set(EXAMPLES) <= paths, sorted(set(EXAMPLES) - paths)


def test_the_placeholders_of_hub_help_say_what_the_real_commands_say() -> None:
    from hub.cli import CONSUMER_COMMANDS

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    real = {choice.dest: choice.help for choice in sub._choices_actions}
    for name, (_, help_text) in CONSUMER_COMMANDS.items():
        assert real.get(name) == help_text, (
            f"hub {name}: `hub --help` says {help_text!r}, the command {real.get(name)!r}"
        )
