"""`hub run`: the FastStream application around a `Hub` (graceful shutdown on SIGTERM/SIGINT, AsyncAPI document).

Its hooks are the hub's four lifecycle steps (`hub.bootstrap.Hub`), so `hub run` starts and stops things in the same
order as the in-process `Hub.start`/`Hub.stop`.
"""

from __future__ import annotations

from faststream import FastStream
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI

from hub.bootstrap import Hub
from infra.version import version

VERSION = version()


def build_app(hub: Hub) -> FastStream:
    """A FastStream application around the hub; FastStream starts and stops the broker between the hooks."""
    app = FastStream(hub.broker, specification=asyncapi(hub.broker))
    app.on_startup(hub.start_before_broker)
    app.after_startup(hub.start_after_broker)
    app.on_shutdown(hub.stop_before_broker)
    app.after_shutdown(hub.stop_after_broker)
    return app


def asyncapi(broker: RabbitBroker) -> AsyncAPI:
    return AsyncAPI(
        broker,
        title="City contact hub",
        version=VERSION,
        description=(
            "Public message contract of the city contact hub. City systems publish `call.logged` and "
            "`report.filed` on the topic exchange `city.events`; assignees receive work orders on "
            "`workorders.<assignee>` and send `workorder.status` back. Metadata follows the CloudEvents AMQP binding."
        ),
        schema_version="3.0.0",
    )
