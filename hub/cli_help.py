"""The `hub` command line's help: what each command does, its defaults and an example, for every command.

`polish(parser)` walks the assembled parser (whoever registered a command): each command gets its one-line help
as description when it has none, every option's default in its help, the example below as epilog, and a group
without an action (`hub dlq`) prints its own help and exits 2 instead of doing nothing. A test checks that
every command has an example here, so a new command cannot ship without one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from hub.failures import EXIT_CODES, USAGE

# Command path (without `hub`) -> an example, as a reader would type it.
EXAMPLES: dict[str, str] = {
    "run": "hub run router stats        # the router and the statistics in this process; `hub run all`: everything",
    "db upgrade": "hub db upgrade              # HUB_DATABASE_URL's schema to the latest migration",
    "topology declare": "hub topology declare        # exchanges, queues and bindings on HUB_AMQP_URL",
    "route": "hub route --explain report.json",
    "demo": "hub demo --days 3 --seed 11",
    "simulate": "hub simulate --days 7 --speed 60     # a week, 60 times faster than real time",
    "dlq list": "hub dlq list router",
    "dlq show": "hub dlq show router 2f0c0e7e-...   # the id from `hub dlq list`",
    "dlq replay": "hub dlq replay router --all",
    "dlq purge": "hub dlq purge router --yes",
    "serve": "hub serve --host 0.0.0.0 --port 8080",
    "stats": "hub stats --year 2021 --by category --format csv",
    "stats rebuild": "hub stats rebuild",
    "open311 keys add": "hub open311 keys add fixmystreet",
    "open311 keys list": "hub open311 keys list",
    "open311 keys revoke": "hub open311 keys revoke fixmystreet",
    "users add": "hub users add an.peeters --role comms --role agent   # prints a made password once",
    "users list": "hub users list",
    "users disable": "hub users disable an.peeters   # her sessions end at once",
    "users enable": "hub users enable an.peeters",
    "users reset-password": "hub users reset-password an.peeters --password-file /run/secrets/an",
    "users roles": "hub users roles an.peeters --role comms",
    "tokens add": "hub tokens add powerbi --role management   # prints the token once",
    "tokens list": "hub tokens list",
    "tokens revoke": "hub tokens revoke powerbi",
    "places approximate": "hub places approximate",
    "places import": "hub places import districts-official.geojson",
    "places locate": "hub places locate 50.8167 5.1864",
    "contractors provision": "hub contractors provision --secrets-file contractor-passwords.json",
    "contractors page-link": "hub contractors page-link road_firm   # the road firm's link to its page of work orders",
    "deliveries list": "hub deliveries list --state exhausted --assignee waste_company",
    "deliveries replay": "hub deliveries replay --all-exhausted",
    "deliveries enable": "hub deliveries enable grid_operator",
    "alerts list": "hub alerts list --limit 10",
    "alerts silence": "hub alerts silence --category waste.missed_collection --district Zepperen --for 8h --reason 'ophaling uitgesteld'",
    "alerts unsilence": "hub alerts unsilence sil-0123456789ab",
    "alerts broadcast": "hub alerts broadcast inc-waste.missed_collection-zepperen-2021-03-16T1015 --channel website",
    "spikes backfill": "hub spikes backfill contacts-2020.csv",
    "privacy erase": "hub privacy erase --report rep-2021-004711",
    "privacy retention": "hub privacy retention --dry-run",
    "contracts export": "hub contracts export docs/contracts",
    "workorders list": "hub workorders list --assignee road_firm --overdue",
    "workorders show": "hub workorders show wo-5aa2bb1b901b5f469956c5bb6ff55917",
    "workorders set-status": "hub workorders set-status wo-5aa2bb1b901b5f469956c5bb6ff55917 planned --planned-for 2021-03-22",
    "workorders unfold": "hub workorders unfold rep-2021-004711 --by an.peeters",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; each option's default appended to its help when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command and group below `parser`, as (path, parser)."""
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    for name, child in sub.choices.items():
        child_path = (*path, name)
        if not child.description and helps.get(name):
            child.description = helps[name]
        yield " ".join(child_path), child
        yield from commands(child, child_path)


def _has_action(parser: argparse.ArgumentParser) -> bool:
    return any(parser.get_default(name) is not None for name in ("run", "func"))


def _show_help(parser: argparse.ArgumentParser) -> object:
    def run(_args: argparse.Namespace, *_rest: object) -> int:
        parser.print_help(sys.stderr)
        return USAGE

    return run


def polish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.formatter_class = HelpFormatter
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser.epilog = (
        "Settings come from HUB_* environment variables (or .env); see the README's Configuration.\n"
        f"exit codes:\n{codes}\n"
        "example:\n  hub demo                    # the main job on this machine, with simulated city traffic"
    )
    for path, child in commands(parser):
        child.formatter_class = HelpFormatter
        if path in EXAMPLES:
            child.epilog = f"example:\n  {EXAMPLES[path]}"
        if _subparsers(child) is not None and not _has_action(child):
            # `hub dlq`: a group without an action shows its own help, with exit 2 (usage).
            child.set_defaults(run=_show_help(child), func=_show_help(child))
    return parser
