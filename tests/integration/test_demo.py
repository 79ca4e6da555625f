"""The README's first command, `hub demo`: every consumer on the embedded default, simulated traffic, figures."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from consumers.console.accounts import Accounts
from infra.db import create_engine, create_session_factory
from tests.support import ROOT

pytestmark = pytest.mark.e2e


async def run_demo(cwd: Path, amqp_url: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}  # the embedded default
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "demo", *args,
        cwd=cwd, env=env | {"HUB_AMQP_URL": amqp_url, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    return int(proc.returncode or 0), output.decode()


async def test_the_demo_runs_twice_on_fresh_embedded_databases(clean_broker: str, tmp_path: Path) -> None:
    for run in (1, 2):
        code, output = await run_demo(tmp_path, clean_broker, "--days", "3", "--incidents", "2", "--seed", "11")
        assert code == 0, output[-3000:]
        assert "hub-demo.sqlite3" in output
        assert "messages handled by 6 consumers" in output, output[-3000:]
        for table in ("Calls by topic (stats)", "Reports per category (router)", "Work orders per assignee (router)"):
            assert table in output
        # Simulated assignees answered their work orders, each by its channel, and the figures say where each stands.
        assert "Work orders against their SLA, per assignee" in output
        answers = re.search(r"answers sent \((\d+) by email, (\d+) by queue, (\d+) by webhook\), 0 refused", output)
        assert answers is not None, output[-3000:]
        assert all(int(n) > 0 for n in answers.groups()), answers.group(0)
        # Each run starts from an empty database: the second sees its own traffic, and its alerts, again.
        assert "SPIKE " in output, f"run {run}: no alert raised\n{output[-3000:]}"
        # The simulated team's notice about an alerted incident, and what it saved (the statistics' estimate).
        flat = " ".join(output.split())
        assert re.search(r"calls in the hour before, \d+ in the 3 open hours after where \d+ were expected: "
                         r"about -?\d+ calls (fewer|more) than expected \(95 % interval [-+]\d+ to [-+]\d+\)", flat), (
            output[-3000:]
        )  # fmt: skip
        # Every line that names the seed names the one asked for (the summary of the live days said 12).
        assert set(re.findall(r"seed (\d+)", output)) == {"11"}, re.findall(r".*seed \d+.*", output)
    assert (tmp_path / "hub-demo.sqlite3").exists()
    # The dashboard is behind the console's login: the demo says how to serve it and whom to sign in as.
    found = re.search(r"hub serve\s.*?sign in as (\w+) with the password (\S+)", " ".join(output.split()))
    assert found, output[-1500:]
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub-demo.sqlite3'}"
    assert f"HUB_DATABASE_URL={url.replace(str(tmp_path) + '/', '')} hub serve" in " ".join(output.split())
    engine = create_engine(url)
    try:
        signed_in = await Accounts(create_session_factory(engine)).login(found[1], found[2], "127.0.0.1")
    finally:
        await engine.dispose()
    assert signed_in.principal is not None
    assert signed_in.principal.roles >= {"management", "ops"}


async def test_a_demo_out_of_time_says_so_in_one_line(clean_broker: str, tmp_path: Path) -> None:
    code, output = await run_demo(
        tmp_path, clean_broker, "--days", "1", "--incidents", "0", "--seed", "3", "--timeout", "0.01"
    )
    assert code == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        "hub: error: the consumers did not catch up within 0.01 s: `hub demo --timeout SECONDS` gives the consumers "
        "longer (a simulated year needs it)"
    )
