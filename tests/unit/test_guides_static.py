"""What the guides say that no test machine can run: their `docker compose` commands name real services,
profiles and scalable consumers; their links lead somewhere; the README points to every guide.

The guides' ```bash and ```python blocks are run by tests/integration/test_guides.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = ("first-report.md", "contractor-onboarding.md", "communication-team.md", "operator-runbook.md")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
# Compose subcommands whose first argument (after options) is a service, and those that take several.
ONE_SERVICE = {"exec", "run"}
SERVICES = {"logs", "ps", "stop", "start", "restart", "up", "pull", "build", "rm", "kill"}


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    return services


def _compose_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for guide in GUIDES:
        for match in FENCE.finditer((DOCS / guide).read_text(encoding="utf-8")):
            if match["lang"] != "sh":
                continue
            for line in match["body"].splitlines():
                if line.startswith("docker compose "):
                    words = shlex.split(re.split(r"[<>]", line, maxsplit=1)[0], comments=True)
                    commands.append((guide, words[2:]))
    return commands


def test_the_guides_compose_commands_name_what_the_compose_file_has() -> None:
    services = _services()
    profiles = {profile for service in services.values() for profile in service.get("profiles", [])}
    commands = _compose_commands()
    assert len(commands) >= 8, commands
    for guide, words in commands:
        args = list(words)
        while args and args[0].startswith("--"):  # global options
            option = args.pop(0)
            if option == "--profile":
                assert args.pop(0) in profiles, f"{guide}: docker compose {' '.join(words)}: no such profile"
        assert args, f"{guide}: docker compose without a subcommand"
        subcommand, rest = args[0], args[1:]
        named: list[str] = []
        i = 0
        while i < len(rest):
            word = rest[i]
            if word == "--scale":
                service, _, count = rest[i + 1].partition("=")
                assert service in services, f"{guide}: --scale {service}: no such service"
                assert int(count) >= 1
                assert "container_name" not in services[service], f"{guide}: {service} cannot have replicas"
                assert "ports" not in services[service], f"{guide}: {service} publishes a port: no replicas"
                i += 2
                continue
            if word.startswith("-"):
                i += 1
                continue
            named.append(word)
            if subcommand in ONE_SERVICE:
                break
            i += 1
        if subcommand in ONE_SERVICE | SERVICES:
            for service in named:
                assert service in services, f"{guide}: docker compose {' '.join(words)}: no service {service!r}"
        else:
            pytest.fail(f"{guide}: docker compose {subcommand}: not a subcommand this test knows")


def test_relative_links_in_the_guides_and_the_readme_lead_somewhere() -> None:
    for path in [ROOT / "README.md", *(DOCS / guide for guide in GUIDES)]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            assert (path.parent / target).exists(), f"{path.name}: link to {target} leads nowhere"


def test_the_readme_keeps_its_two_commands_on_top_and_points_to_every_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", readme, flags=re.M)
    assert sections[1].startswith("Two commands"), "the README's first section is its two commands"
    first_block = FENCE.search(sections[1])
    assert first_block is not None
    assert "bash scripts/demo.sh" in first_block["body"]
    assert "bash scripts/test.sh" in first_block["body"]
    for guide in GUIDES:
        assert f"(docs/{guide})" in readme, f"README.md does not link docs/{guide}"
