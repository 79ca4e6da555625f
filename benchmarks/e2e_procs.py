"""The hub's processes as benchmarks/e2e.py runs them: RSS and CPU of a process tree, the hub runner."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.e2e_broker import Probe

ROOT = Path(__file__).resolve().parents[1]


def read_status_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    out = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            out += process_tree(int(child))
    return out


def process_label(pid: int) -> str:
    """The consumers a hub process runs, from its command line ("supervisor" for `hub run --workers N>1`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return str(pid)
    names = argv[argv.index("run") + 1 :] if "run" in argv else []
    consumers = [a for a in names if a and not a.startswith("-") and not a.isdigit()]
    label = "+".join(consumers) or str(pid)
    supervisor = "--worker-index" not in argv and len(process_tree(pid)) > 1
    return f"{label} (supervisor)" if supervisor else label


def broker_pid() -> int | None:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
    return None


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every process, by pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm = data[data.index("(") + 1 : data.rindex(")")]
        fields = data[data.rindex(")") + 2 :].split()
        out[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def cpu_by_group(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], hub_pids: set[int], wall: float
) -> dict[str, float]:
    """Cores used during the interval: hub, rabbitmq, postgres, this benchmark, everything else."""
    groups = {"hub": 0.0, "rabbitmq": 0.0, "postgres": 0.0, "bench": 0.0, "other": 0.0}
    me = os.getpid()
    for pid, (comm, secs) in after.items():
        used = secs - before.get(pid, (comm, 0.0))[1]
        if pid in hub_pids:
            group = "hub"
        elif comm in ("beam.smp", "erl_child_setup", "epmd"):
            group = "rabbitmq"
        elif comm.startswith("postgres"):
            group = "postgres"
        elif pid == me:
            group = "bench"
        else:
            group = "other"
        groups[group] += max(0.0, used)
    return {k: round(v / wall, 2) for k, v in groups.items()}


def gc_wrapper(spec: str) -> str:
    """`python -c` code running `hub run` with the garbage collector tuned, without changing the hub.

    spec: comma-separated; "freeze" freezes the heap after the hub's modules and configuration are loaded
    (gc.freeze: the long-lived start-up objects leave the collector's view), three integers set
    gc.set_threshold. E.g. "freeze,10000,50,10".
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    thresholds = [int(p) for p in parts if p.isdigit()]
    lines = ["import gc, sys"]
    if thresholds:
        lines.append(f"gc.set_threshold({', '.join(map(str, thresholds))})")
    if "freeze" in parts:
        lines += [
            "import hub.bootstrap, hub.cli",
            "from hub.settings import get_settings",
            "hub.bootstrap.Domain.load(get_settings())",
            "gc.collect()",
            "gc.freeze()",
        ]
    lines += ["import hub.cli", "sys.exit(hub.cli.main(sys.argv[1:]))"]
    return "; ".join(lines)


class HubRunner:
    """`python -m hub.cli run <names>` as its own process (like tests.support.HubProcess)."""

    def __init__(
        self,
        names: list[str],
        env: dict[str, str],
        log_path: Path,
        profile: Path | None = None,
        gc_tuning: str | None = None,
    ) -> None:
        self.names = names
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.profile = profile
        self.gc_tuning = gc_tuning
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HubRunner:
        cmd = [sys.executable]
        if self.profile is not None:
            cmd += ["-m", "cProfile", "-o", str(self.profile)]
        override = os.environ.get("BENCH_HUB_COMMAND")  # profiling harnesses: "python harness.py" + names
        if override:
            cmd = [*shlex.split(override), *self.names]
        elif self.gc_tuning:
            cmd = [*cmd, "-c", gc_wrapper(self.gc_tuning), "run", *self.names]
        else:
            cmd = [*cmd, "-m", "hub.cli", "run", *self.names]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    async def wait_consuming(self, probe: Probe, queues: list[str], timeout: float = 90) -> float:
        """Poll (10 ms) until every queue has a consumer; returns the perf_counter time it happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"hub exited: {self.log_tail()}")
            counts = [(await probe.queue(q))[1] for q in queues]
            if all(counts):
                return time.perf_counter()
            await asyncio.sleep(0.01)
        raise RuntimeError(f"hub not consuming {queues} after {timeout}s: {self.log_tail()}")

    def memory_kb(self) -> dict[str, int]:
        return read_status_kb(self.pid)

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


class HubGroup:
    """The hub: one process running every consumer (`hub run router stats`), or one per consumer (--split)."""

    def __init__(self, runners: list[HubRunner]) -> None:
        self.runners = runners

    @property
    def pids(self) -> set[int]:
        """The hub's processes: each runner and, under `hub run --workers N`, its supervisor's children."""
        return {p for r in self.runners for p in process_tree(r.pid)}

    def alive(self) -> bool:
        return all(r.alive() for r in self.runners)

    def log_tail(self) -> str:
        return "\n".join(r.log_tail() for r in self.runners)

    def memory_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM, summed over the hub's processes."""
        total = {"VmRSS": 0, "VmHWM": 0}
        for pid in self.pids:
            for k, v in read_status_kb(pid).items():
                total[k] += v
        return total

    def stop(self) -> list[int | None]:
        return [r.stop() for r in self.runners]
