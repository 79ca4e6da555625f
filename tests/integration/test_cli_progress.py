"""Long commands show progress on a terminal (rich, on stderr) and none with --quiet or off a terminal:
`hub simulate` (messages published, rate, event time reached) and `hub stats rebuild` (facts read)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration


def run(args: list[str], env: dict[str, str], *, terminal: bool, cwd: Path) -> tuple[int, str, str]:
    """(exit code, stdout, what reached stderr): stderr is a pseudo-terminal when `terminal`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full_env = {**base, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "HUB_LOG_JSON": "false", **env}
    command = [sys.executable, "-m", "hub.cli", *args]
    if not terminal:
        done = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    stdout = process.stdout.read().decode() if process.stdout else ""
    return process.wait(timeout=60), stdout, seen.decode(errors="replace")


def test_simulate_shows_messages_rate_and_event_time_on_a_terminal(clean_broker: str, tmp_path: Path) -> None:
    env = {"HUB_AMQP_URL": clean_broker}
    assert (
        subprocess.run(
            [sys.executable, "-m", "hub.cli", "topology", "declare"], env={**os.environ, **env}, cwd=ROOT, check=False
        ).returncode
        == 0
    )
    code, out, err = run(["simulate", "--days", "1", "--seed", "5"], env, terminal=True, cwd=tmp_path)
    assert code == 0, out + err
    assert "published" in err
    assert "msg/s" in err
    assert "event time 2021-03-15" in err
    assert "published" in out  # the summary line, on stdout

    code, out, err = run(["simulate", "--days", "1", "--seed", "5", "--quiet"], env, terminal=True, cwd=tmp_path)
    assert code == 0, out + err
    assert "msg/s" not in err
    code, out, err = run(["simulate", "--days", "1", "--seed", "5"], env, terminal=False, cwd=tmp_path)
    assert code == 0, out + err
    assert err == ""


def test_stats_rebuild_shows_the_facts_read_on_a_terminal(tmp_path: Path, sqlite_url: str) -> None:
    env = {"HUB_DATABASE_URL": sqlite_url}
    code, out, err = run(["stats", "rebuild"], env, terminal=True, cwd=tmp_path)
    assert code == 0, out + err
    assert "facts read" in err
    assert out.startswith("rebuilt ")
    code, out, err = run(["stats", "rebuild", "--quiet"], env, terminal=True, cwd=tmp_path)
    assert code == 0, out + err
    assert "facts read" not in err
