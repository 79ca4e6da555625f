"""Service fixtures: RabbitMQ and PostgreSQL from the environment, else from testcontainers, else a clear failure.

HUB_TEST_AMQP_URL      e.g. amqp://guest:guest@127.0.0.1:5672/
HUB_TEST_POSTGRES_URL  e.g. postgresql+asyncpg://root@127.0.0.1:5432/test  (an admin URL: tests create databases)
Under CI=true, or whenever neither the environment nor Docker gives a service, a test that needs it FAILS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest

from hub.settings import Settings
from infra.db import create_engine, upgrade_schema

ROOT = Path(__file__).resolve().parents[1]


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


def _service_missing(name: str, env: str) -> None:
    pytest.fail(
        f"{name} is needed by this test but there is none: set {env} to a running {name}, "
        f"or run the tests where Docker is available (testcontainers starts one). "
        f"Tests never skip a missing service.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """The RabbitMQ the tests were given (or a testcontainers one)."""
    url = os.environ.get("HUB_TEST_AMQP_URL")
    if url:
        yield url
        return
    if not _docker_available():
        _service_missing("RabbitMQ", "HUB_TEST_AMQP_URL")
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
        host = rabbit.get_container_host_ip()
        port = rabbit.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/"


@pytest.fixture(scope="session")
def amqp_url(broker_url: str) -> Iterator[str]:
    """A vhost of this test session's own, so nothing else on the broker (a demo, another run) meets its queues.

    Made through the management API or rabbitmqctl; where neither is allowed, the given vhost is used as it is.
    """
    from urllib.parse import quote, urlsplit, urlunsplit

    from infra.broker_admin import BrokerAdminError, Permissions, connect_admin, credentials_of

    parts = urlsplit(broker_url)
    management_url = f"http://{parts.hostname}:15672"
    vhost = f"hub-tests-{uuid.uuid4().hex[:8]}"

    user = credentials_of(broker_url)[0]

    async def _create() -> None:
        admin = await connect_admin("auto", amqp_url=broker_url, management_url=management_url)
        try:
            await admin.add_vhost(vhost)
            await admin.set_permissions(vhost, user, Permissions(".*", ".*", ".*"))
        finally:
            await admin.aclose()

    async def _delete() -> None:
        admin = await connect_admin("auto", amqp_url=broker_url, management_url=management_url)
        try:
            await admin.delete_vhost(vhost)
        finally:
            await admin.aclose()

    try:
        asyncio.run(_create())
    except BrokerAdminError:
        yield broker_url
        return
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))
    finally:
        asyncio.run(_delete())


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if not _docker_available():
        _service_missing("PostgreSQL", "HUB_TEST_POSTGRES_URL")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver="asyncpg") as pg:
        yield pg.get_connection_url()


async def _pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated once per test process: each test's database is a copy of it (`CREATE DATABASE ...
    TEMPLATE`, about 0.1 s), not a fresh run of every migration (about 1.5 s). The migrations themselves are
    tested in tests/integration/test_schema.py."""
    name = f"hub_template_{uuid.uuid4().hex[:12]}"
    base, _, _ = postgres_admin_url.rpartition("/")

    async def _create() -> None:
        await _pg_admin(postgres_admin_url, f'CREATE DATABASE "{name}"')
        engine = create_engine(f"{base}/{name}")
        try:
            await upgrade_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(_create())
    try:
        yield name
    finally:
        asyncio.run(_pg_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url(postgres_admin_url: str, postgres_template: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(postgres_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    base, _, _ = postgres_admin_url.rpartition("/")
    yield f"{base}/{name}"
    await _pg_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test process; each test gets a copy (see `postgres_template`)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "hub.sqlite3"

    async def _create() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade_schema(engine)
        finally:
            await engine.dispose()  # the last connection checkpoints the WAL into the file

    asyncio.run(_create())
    assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not checkpointed"
    return path


@pytest.fixture
async def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated SQLite file for one test."""
    path = tmp_path / "hub.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same scenario on both stores."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


HUB_QUEUE_PREFIXES = ("hub.", "workorders.")


@pytest.fixture
async def clean_broker(amqp_url: str) -> AsyncIterator[str]:
    """Delete the hub's queues before and after a test, so tests sharing one broker never see each other's messages."""
    from hub.bootstrap import Domain
    from hub.topology import CONSUMERS
    from infra.topology import consumer_queue_name, dead_letter_queue_name, retry_queue_name, workorder_queue_name

    domain = Domain.load(Settings())
    names = [workorder_queue_name(a) for a in domain.catalogue.assignees]
    for c in CONSUMERS:
        names += [consumer_queue_name(c), retry_queue_name(c), dead_letter_queue_name(c)]

    async def _delete() -> None:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            for name in names:
                channel = await connection.channel()
                # An absent queue closes the channel (404); a new one is opened for the next name.
                with contextlib.suppress(Exception):
                    await channel.queue_delete(name)
                if not channel.is_closed:
                    await channel.close()

    await _delete()
    yield amqp_url
    await _delete()


def hub_settings(amqp_url: str, database_url: str, **overrides: object) -> Settings:
    return Settings(amqp_url=amqp_url, database_url=database_url, **overrides)  # type: ignore[arg-type]
