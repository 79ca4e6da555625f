"""`hub run --workers N`: the consumers spread over N child processes under one supervisor.

Each child is an ordinary `hub run <names> --workers 1` process (its own broker connections, database pool,
outbox relay, inbox pruner and `/metrics` on HUB_METRICS_PORT + its index), so a child is exactly one of the
replicas the hub already supports: exactly-once stays per transaction, whatever process runs the consumer.
The supervisor only starts, watches and stops them:
- SIGTERM/SIGINT is forwarded to every child (each drains and commits, as a single `hub run` does); the
  supervisor exits 0 once all of them exited 0.
- A child that exits on its own (a crash, an OOM kill) is logged in one line with its consumers and exit code
  and started again after a back-off (1 s, doubling to 30 s; back to 1 s once a child ran a minute).
- A child dies with its supervisor (PR_SET_PDEATHSIG on Linux): a SIGKILLed supervisor leaves no orphan
  consuming in the background.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("hub.supervisor")

# The costliest consumers first (CPU per report, benchmarks/README.md), so dealing them out round-robin puts
# router, stats and spikes on different cores as far as there are cores.
COST_ORDER = ("router", "stats", "spikes", "deliveries", "status", "notifier")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def spread(consumers: Sequence[str], workers: int) -> list[list[str]]:
    """`consumers` dealt out over at most `workers` groups, the costliest first; no group is empty."""
    ordered = sorted(consumers, key=lambda n: COST_ORDER.index(n) if n in COST_ORDER else len(COST_ORDER))
    n = max(1, min(workers, len(ordered)))
    groups: list[list[str]] = [[] for _ in range(n)]
    for i, name in enumerate(ordered):
        groups[i % n].append(name)
    return groups


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    index: int
    consumers: list[str]
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = BACKOFF_FIRST_S
    restart_at: float | None = None
    restarts: int = 0
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        self.tag = ",".join(self.consumers)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor only; it forwards it once
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info(
            "worker %d started: %s (pid %d)",
            self.index,
            self.tag,
            self.proc.pid,
            extra={"worker": self.index, "consumers": self.tag},
        )

    def tend(self, now: float) -> None:
        """One look at the child: start it again when its back-off is over, note a stable run, plan a restart."""
        assert self.proc is not None
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        code = self.proc.poll()
        if code is None:
            if now - self.started_at >= STABLE_AFTER_S:
                self.backoff_s = BACKOFF_FIRST_S
            return
        self.restarts += 1
        log.error(
            "worker %d (%s) exited with code %d; restart %d in %.0f s",
            self.index,
            self.tag,
            code,
            self.restarts,
            self.backoff_s,
            extra={"worker": self.index, "consumers": self.tag, "exit_code": code},
        )
        self.restart_at = now + self.backoff_s
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)


def watch_parent(grace_s: float) -> None:
    """In a child: when the supervisor is gone (its death signal may come before the hub handles signals),
    SIGTERM this process; if it still runs `grace_s` later, leave at once (every transaction is atomic)."""
    parent = os.getppid()

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=_watch, name="supervisor-watch", daemon=True).start()


def child_argv(group: Sequence[str], index: int, *, no_relay: bool) -> list[str]:
    argv = [sys.executable, "-m", "hub.cli", "run", *group, "--workers", "1", "--worker-index", str(index)]
    return [*argv, "--no-relay"] if no_relay else argv


def child_env(base: Mapping[str, str], index: int, metrics_port: int) -> dict[str, str]:
    env = dict(base)
    if metrics_port:
        env["HUB_METRICS_PORT"] = str(metrics_port + index)
    return env


def _wait_for_stop(children: Sequence[Child], stop_timeout_s: float) -> int:
    """After SIGTERM was forwarded: wait for each child (SIGKILL one still running at the timeout); 0 if all were 0."""
    codes = []
    deadline = time.monotonic() + stop_timeout_s
    for child in children:
        if child.proc is None or child.restart_at is not None:
            continue  # down and waiting for its restart: nothing to stop
        try:
            codes.append(child.proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            log.error(
                "worker %d (%s) still running %.0f s after SIGTERM: killed", child.index, child.tag, stop_timeout_s
            )
            child.proc.kill()
            codes.append(child.proc.wait())
    failed = [c for c in codes if c != 0]
    if failed:
        log.error("workers stopped with exit codes %s", codes)
    return 1 if failed else 0


def supervise(
    groups: Sequence[Sequence[str]],
    *,
    metrics_port: int,
    no_relay: bool = False,
    env: Mapping[str, str] | None = None,
    poll_s: float = 0.2,
    stop_timeout_s: float = 60.0,
    argv_for: Callable[[Sequence[str], int], list[str]] | None = None,
) -> int:
    """Runs one child per group until SIGTERM/SIGINT; returns 0 when every child stopped cleanly."""
    base_env = dict(os.environ if env is None else env)
    children = [
        Child(
            index=i,
            consumers=list(group),
            argv=argv_for(group, i) if argv_for else child_argv(group, i, no_relay=no_relay),
            env=child_env(base_env, i, metrics_port),
        )
        for i, group in enumerate(groups)
    ]
    stopping: list[int] = []

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            log.info("stopping %d workers (%s)", len(children), signal.Signals(signum).name)
        stopping.append(signum)
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in children:
            child.start()
        while not stopping:
            now = time.monotonic()
            for child in children:
                child.tend(now)
            time.sleep(poll_s)
        return _wait_for_stop(children, stop_timeout_s)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
