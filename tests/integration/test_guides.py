"""The guides in docs/ run as written: each guide's ```bash and ```python blocks, in order, as one script.

A ```bash block runs as it is; a ```python block runs as `python - <<'PY' ... PY` (the repository's virtual
environment first on PATH, as after `source .venv/bin/activate`). Other blocks (```text, ```yaml, ```sh for the
Docker commands, which need an engine this machine does not have) are shown, not run; the ```sh blocks' compose
commands are checked against docker-compose.yml instead (tests/unit/test_guides_static.py).

Each guide gets a fresh directory, this session's broker vhost (HUB_AMQP_URL) and a SQLite file of its own
(HUB_DATABASE_URL), so a guide never depends on the machine's state; background jobs it starts are stopped at
the end, whatever happens.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.e2e

DOCS = ROOT / "docs"
# A fence at the start of a line, or indented inside a list item (the block is dedented by as much).
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)
PROLOGUE = """set -euo pipefail
trap 'status=$?; jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null; exit $status' EXIT
"""


def script_of(markdown: str) -> str:
    """The guide's runnable blocks as one bash script, in the order a reader meets them."""
    parts = [PROLOGUE]
    for match in FENCE.finditer(markdown):
        lang, body = match["lang"], textwrap.dedent(match["body"])
        if lang == "bash":
            parts.append(body)
        elif lang == "python":
            assert "\nPY\n" not in body, "a python block may not contain a line 'PY'"
            parts.append(f"python - <<'PY'\n{body}PY\n")
    return "\n".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_guide(name: str, tmp_path: Path, amqp_url: str, timeout: float = 240, **extra_env: str) -> str:
    markdown = (DOCS / name).read_text(encoding="utf-8")
    script = script_of(markdown)
    (tmp_path / "guide.sh").write_text(script, encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HUB_AMQP_URL": amqp_url,
        "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}",
        "HUB_METRICS_PORT": str(free_port()),
        "HUB_METRICS_HOST": "127.0.0.1",
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
    }
    # A session of its own: on a time-out the whole group (the hub processes a guide started) is stopped.
    process = subprocess.Popen(
        ["bash", str(tmp_path / "guide.sh")],
        cwd=tmp_path,
        env={**env, **extra_env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        output += f"\n(timed out after {timeout} s)"
    done = subprocess.CompletedProcess(process.args, process.returncode, output, "")
    (tmp_path / "guide.out").write_text(output, encoding="utf-8")  # what the reader would have seen, kept
    log = tmp_path / "hub.log"
    hub_log = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
    assert done.returncode == 0, (
        f"{name} failed (exit {done.returncode}):\n{output[-6000:]}\n--- hub.log ---\n{hub_log}"
    )
    return output


def test_script_of_takes_bash_and_python_blocks_in_order() -> None:
    markdown = "a\n```bash\necho one\n```\n```text\nnot run\n```\n```python\nprint('two')\n```\n```sh\ndocker x\n```\n"
    script = script_of(markdown)
    assert script.index("echo one") < script.index("print('two')")
    assert "not run" not in script
    assert "docker" not in script
    assert "python - <<'PY'\nprint('two')\nPY\n" in script


async def test_first_report_guide(clean_broker: str, tmp_path: Path) -> None:
    output = run_guide("first-report.md", tmp_path, clean_broker)
    assert "Matched rule 'road-damage-ordinary'" in output
    assert output.count("workorder.issued.technische_dienst") == 2
    assert "router: 1 dead-lettered" in output
    assert "report.category: Field required" in output


async def test_contractor_onboarding_guide(clean_broker: str, tmp_path: Path) -> None:
    output = run_guide(
        "contractor-onboarding.md", tmp_path, clean_broker, RECEIVER_PORT=str(free_port()), SMTP_PORT=str(free_port())
    )
    assert "dry run: 3 contractor user(s) would be provisioned; nothing changed" in output
    assert re.search(r"verified \S+ wo-[0-9a-f]+ lighting\.defect", output), output[-3000:]
    assert "To: planning@road-firm.example.be" in output


async def test_communication_team_guide(clean_broker: str, tmp_path: Path) -> None:
    output = run_guide("communication-team.md", tmp_path, clean_broker, SERVE_PORT=str(free_port()))
    assert re.search(r"sil-[0-9a-f]+: alerts for waste\.missed_collection, district Zepperen are silenced", output)
    assert re.search(r"broadcast of inc-\S+ at .* on website, facebook published", output)
    assert "error: no alert recorded for incident 'inc-no-such-incident'" in output
    assert "inc-" in output.rsplit("published", 1)[-1], "the incidents API lists the demo's incidents"


async def test_operator_runbook(clean_broker: str, tmp_path: Path) -> None:
    output = run_guide("operator-runbook.md", tmp_path, clean_broker)
    assert 'hub_build_info{python="' in output
    assert 'hub_deliveries_total{consumer="router",outcome="ok"}' in output
    assert "router: 1 dead-lettered" in output
    assert "replayed 1 message(s) to hub.router" in output
    assert "router: 0 dead-lettered" in output
    assert "dry run: 3 contractor user(s) would be provisioned" in output
    assert "backed up" in output
