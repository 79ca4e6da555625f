"""`hub run --workers 2`: consumers in two child processes; a SIGKILLed child comes back, SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.test_router_exactly_once import count_rows, expected_orders, hub_env, wait_for
from tests.support import CitySystem, HubProcess, make_report

pytestmark = pytest.mark.e2e


def children(pid: int) -> dict[int, str]:
    """pid -> command line of `pid`'s child processes."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    out = {}
    for child in map(int, listed):
        with contextlib.suppress(FileNotFoundError):
            out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def exists(pid: int) -> bool:
    """Running (a zombie left for a PID 1 that does not reap is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two free ports side by side")


async def until(what: str, check, timeout: float = 60):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if got := check():
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


async def test_two_workers_route_a_killed_one_comes_back_and_sigterm_stops_all(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(14)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(600)]
    expected = expected_orders(reports)
    port = free_port_pair()
    env = {**hub_env(clean_broker, postgres_url), "HUB_METRICS_PORT": str(port), "HUB_LOG_JSON": "false"}
    hub = HubProcess("all", "--workers", "2", env=env, log_path=tmp_path / "hub.log").start()
    assert hub.proc is not None
    try:
        await hub.wait_ready(clean_broker, "hub.router")
        await hub.wait_ready(clean_broker, "hub.stats")
        workers = await until("two workers", lambda: (c := children(hub.proc.pid)) and len(c) == 2 and c)
        (router_pid,) = [pid for pid, cmd in workers.items() if " router " in f"{cmd} "]
        assert all("--worker-index" in cmd for cmd in workers.values())
        async with httpx.AsyncClient() as http:
            for p in (port, port + 1):  # one /metrics per child: HUB_METRICS_PORT + index
                response = await http.get(f"http://127.0.0.1:{p}/metrics", timeout=5)
                assert response.status_code == 200
                assert "hub_" in response.text

        async with CitySystem(clean_broker) as city:
            await asyncio.gather(*(city.publish_report(r) for r in reports[:300]))
            await wait_for(postgres_url, 300)
            os.kill(router_pid, signal.SIGKILL)
            await asyncio.gather(*(city.publish_report(r) for r in reports[300:]))
        await wait_for(postgres_url, len(reports))
        log = hub.log_tail(20_000)
        assert "worker 0 (router,spikes,status) exited with code -9; restart 1" in log, log
        after = children(hub.proc.pid)
        assert len(after) == 2
        assert router_pid not in after
        assert await count_rows(postgres_url) == (len(reports), len(expected))
    finally:
        pids = list(children(hub.proc.pid)) if hub.alive() else []
        code = hub.stop(timeout=60)
    assert code == 0, hub.log_tail()
    assert pids
    assert not any(exists(pid) for pid in pids)


async def test_a_supervisor_killed_takes_its_workers_with_it(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    env = {**hub_env(clean_broker, postgres_url), "HUB_METRICS_PORT": "0"}
    hub = HubProcess("router", "stats", "--workers", "2", env=env, log_path=tmp_path / "hub.log").start()
    assert hub.proc is not None
    await hub.wait_ready(clean_broker, "hub.router")
    pids = await until("two workers", lambda: len(c := children(hub.proc.pid)) == 2 and list(c))
    hub.kill()
    await until("no orphan worker", lambda: not any(exists(pid) for pid in pids), 60)
