"""The `hub` command's expected failures: one line on stderr, no traceback, the documented exit code
(hub/failures.py); `--debug` shows the traceback. And `--version`, a fast `--help`, groups that show their help.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub import failures
from tests.support import ROOT

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    shown = f"exit {done.returncode}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr + done.stdout, shown
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert done.returncode == code, shown
    for text in expected:
        assert text in lines[0], shown
    return lines[0]


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [("HUB_PREFETCH", "abc", "valid integer"), ("HUB_LOG_LEVEL", "verbose", "'DEBUG', 'INFO'")],
)
def test_a_bad_setting_names_its_variable(cwd: Path, variable: str, value: str, expected: str) -> None:
    assert_one_line(hub("stats", cwd=cwd, env={variable: value}), failures.SETTINGS, f"{variable}={value}", expected)
    assert not (cwd / "hub.sqlite3").exists()


def test_database_unreachable(cwd: Path) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://hub:s3cret@127.0.0.1:{port}/hub"
    line = assert_one_line(
        hub("stats", cwd=cwd, env={"HUB_DATABASE_URL": url}),
        failures.UNREACHABLE,
        f"127.0.0.1:{port}",
        "HUB_DATABASE_URL",
    )
    assert "s3cret" not in line


def test_broker_unreachable(cwd: Path) -> None:
    port = closed_port()
    url = f"amqp://hub:s3cret@127.0.0.1:{port}/"
    line = assert_one_line(
        hub("dlq", "list", cwd=cwd, env={"HUB_AMQP_URL": url}),
        failures.UNREACHABLE,
        f"127.0.0.1:{port}",
        "HUB_AMQP_URL",
    )
    assert "s3cret" not in line


def test_missing_file(cwd: Path) -> None:
    assert_one_line(hub("route", "--explain", "/nope.json", cwd=cwd), failures.NO_FILE, "/nope.json")


def test_unknown_consumer_name(cwd: Path) -> None:
    assert_one_line(hub("run", "nosuch", cwd=cwd), failures.USAGE, "nosuch", "router")


def test_a_read_command_on_a_fresh_machine_creates_no_database(cwd: Path) -> None:
    assert_one_line(hub("stats", cwd=cwd), failures.NO_SCHEMA, "hub db upgrade")
    assert list(cwd.iterdir()) == [], "hub stats created a file"


def test_debug_shows_the_traceback(cwd: Path) -> None:
    done = hub("--debug", "route", "--explain", "/nope.json", cwd=cwd)
    assert done.returncode == failures.NO_FILE
    assert "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("hub: error: no such file")


def test_version(cwd: Path) -> None:
    import importlib.metadata

    done = hub("--version", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hub {importlib.metadata.version('city-contact-hub')}"


def test_a_group_without_an_action_shows_its_help(cwd: Path) -> None:
    done = hub("dlq", cwd=cwd)
    assert done.returncode == failures.USAGE
    assert "usage: hub dlq" in done.stdout + done.stderr
    assert "replay" in done.stdout + done.stderr


def test_help_is_fast_and_imports_nothing_heavy(cwd: Path) -> None:
    heavy = ("sqlalchemy", "aio_pika", "aiormq", "faststream", "pydantic", "rich", "httpx", "fastapi", "yaml")
    code = (
        "import sys, contextlib, io\n"
        "from hub.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"hub --help imports {done.stdout.strip()}"
    # CPU time of the child, not wall time: other processes on a busy machine do not count.
    best = float("inf")
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert hub("--help", cwd=cwd).returncode == 0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    assert best < 0.3, f"hub --help took {best:.2f} s of CPU"
