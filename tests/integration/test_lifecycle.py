"""One lifecycle: `hub run` (the FastStream application's hooks) and in-process hubs (`Hub.start`/`Hub.stop`: demo,
tests) start and stop the same things in the same order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hub.app import build_app
from hub.bootstrap import Hub, build_hub
from hub.settings import MetricsSettings, Settings

pytestmark = pytest.mark.integration


def recorded(hub: Hub, events: list[str]) -> Hub:
    """Every start and stop of the hub's parts appends its name to `events`."""

    def wrap(owner: Any, method: str, name: str) -> None:
        original: Callable[[], Awaitable[Any]] = getattr(owner, method)

        async def run() -> Any:
            events.append(name)
            return await original()

        setattr(owner, method, run)

    wrap(hub, "prepare", "prepare")
    assert hub.relay is not None
    wrap(hub.relay, "start", "relay.start")
    wrap(hub.relay, "stop", "relay.stop")
    wrap(hub.broker, "start", "broker.start")
    wrap(hub.broker, "stop", "broker.stop")
    for job in hub.background:
        wrap(job, "start", f"{type(job).__name__}.start")
        wrap(job, "stop", f"{type(job).__name__}.stop")
    for name, batcher in hub.batchers.items():
        wrap(batcher, "stop", f"batcher[{name}].stop")
    return hub


async def test_hub_run_and_an_in_process_hub_start_and_stop_in_one_order(clean_broker: str, sqlite_url: str) -> None:
    settings = Settings(amqp_url=clean_broker, database_url=sqlite_url, metrics=MetricsSettings(port=0))
    in_process: list[str] = []
    hub = recorded(build_hub(settings, consumers=["router", "stats"]), in_process)
    await hub.start()
    await hub.stop()

    as_app: list[str] = []
    app = build_app(recorded(build_hub(settings, consumers=["router", "stats"]), as_app))
    await app.start()
    await app.stop()

    assert in_process == as_app
    assert in_process.index("relay.start") < in_process.index("broker.start") < in_process.index("Periodic.start")
    assert in_process.index("Periodic.stop") < in_process.index("broker.stop") < in_process.index("relay.stop")
    assert in_process[-1] == "relay.stop"  # after every batcher committed what it held
