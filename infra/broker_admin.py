"""RabbitMQ administration for provisioning: users, vhost permissions and topic permissions.

Two backends with one interface: the management HTTP API (httpx) and, where the management plugin is not
enabled, `rabbitmqctl` on the broker's host. Passwords never appear on a command line: rabbitmqctl reads them
from standard input.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

from infra.amqp import primary


class BrokerAdminError(RuntimeError):
    """The broker refused or could not be reached for an administrative operation."""


@dataclass(frozen=True)
class Permissions:
    """Regular expressions on resource names; the empty string grants nothing."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class TopicPermissions:
    """Regular expressions on routing keys for one topic exchange."""

    exchange: str
    write: str
    read: str


class BrokerAdmin(Protocol):
    name: str

    async def user_exists(self, user: str) -> bool: ...

    async def put_user(self, user: str, password: str) -> None:
        """Create the user (no tags) or set its password."""

    async def delete_user(self, user: str) -> None: ...

    async def add_vhost(self, vhost: str) -> None: ...

    async def delete_vhost(self, vhost: str) -> None: ...

    async def set_permissions(self, vhost: str, user: str, permissions: Permissions) -> None: ...

    async def set_topic_permissions(self, vhost: str, user: str, permissions: TopicPermissions) -> None: ...

    async def reset_user(self, user: str) -> None:
        """No tags, and no permissions nor topic permissions in any vhost; the password stays."""

    async def aclose(self) -> None: ...


def vhost_of(amqp_url: str) -> str:
    """The vhost an AMQP URL names: `/` when the path is empty or `/`."""
    path = urlsplit(primary(amqp_url)).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def credentials_of(amqp_url: str) -> tuple[str, str]:
    parts = urlsplit(primary(amqp_url))
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


class HttpBrokerAdmin:
    """The management plugin's HTTP API."""

    name = "http"

    def __init__(self, base_url: str, user: str, password: str, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), auth=(user, password), timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, json: object | None = None, ok: tuple[int, ...] = ()) -> int:
        try:
            response = await self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise BrokerAdminError(f"management API unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300 and response.status_code not in ok:
            raise BrokerAdminError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.status_code

    async def ping(self) -> None:
        await self._call("GET", "/api/whoami")

    async def _get(self, path: str) -> object:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise BrokerAdminError(f"management API unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise BrokerAdminError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    async def reset_user(self, user: str) -> None:
        name = quote(user, safe="")
        found = await self._get(f"/api/users/{name}")
        assert isinstance(found, dict)
        # Re-put with its own password hash: the tags go, the password stays.
        await self._call(
            "PUT",
            f"/api/users/{name}",
            {
                "password_hash": found.get("password_hash", ""),
                "hashing_algorithm": found.get("hashing_algorithm", "rabbit_password_hashing_sha256"),
                "tags": "",
            },
        )
        for kind in ("permissions", "topic-permissions"):
            granted = await self._get(f"/api/users/{name}/{kind}")
            for vhost in sorted(
                {str(p["vhost"]) for p in granted if isinstance(p, dict)} if isinstance(granted, list) else ()
            ):
                await self._call("DELETE", f"/api/{kind}/{quote(vhost, safe='')}/{name}", ok=(404,))

    async def user_exists(self, user: str) -> bool:
        return await self._call("GET", f"/api/users/{quote(user, safe='')}", ok=(404,)) != 404

    async def put_user(self, user: str, password: str) -> None:
        await self._call("PUT", f"/api/users/{quote(user, safe='')}", {"password": password, "tags": ""})

    async def delete_user(self, user: str) -> None:
        await self._call("DELETE", f"/api/users/{quote(user, safe='')}", ok=(404,))

    async def add_vhost(self, vhost: str) -> None:
        await self._call("PUT", f"/api/vhosts/{quote(vhost, safe='')}")

    async def delete_vhost(self, vhost: str) -> None:
        await self._call("DELETE", f"/api/vhosts/{quote(vhost, safe='')}", ok=(404,))

    async def set_permissions(self, vhost: str, user: str, permissions: Permissions) -> None:
        await self._call(
            "PUT",
            f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            {"configure": permissions.configure, "write": permissions.write, "read": permissions.read},
        )

    async def set_topic_permissions(self, vhost: str, user: str, permissions: TopicPermissions) -> None:
        await self._call(
            "PUT",
            f"/api/topic-permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            {"exchange": permissions.exchange, "write": permissions.write, "read": permissions.read},
        )


class RabbitmqctlBrokerAdmin:
    """`rabbitmqctl` on the broker's host (as a user allowed to run it)."""

    name = "rabbitmqctl"

    def __init__(self, executable: str = "rabbitmqctl", *, timeout_s: float = 60.0) -> None:
        self._exe = executable
        self._timeout_s = timeout_s

    async def aclose(self) -> None:
        return None

    async def _run(self, *args: str, stdin: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._exe,
                "--quiet",
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise BrokerAdminError(f"cannot run {self._exe}: {exc}") from exc
        try:
            async with asyncio.timeout(self._timeout_s):
                out, _ = await proc.communicate(stdin.encode() + b"\n" if stdin is not None else b"")
        except TimeoutError:
            proc.kill()
            raise BrokerAdminError(f"rabbitmqctl {args[0]} timed out") from None
        text = out.decode(errors="replace").strip()
        if proc.returncode not in ok_codes:
            raise BrokerAdminError(f"rabbitmqctl {args[0]} failed ({proc.returncode}): {text[-300:]}")
        return proc.returncode or 0, text

    async def user_exists(self, user: str) -> bool:
        _, text = await self._run("list_users", "--no-table-headers")
        return any(line.split("\t", 1)[0] == user for line in text.splitlines())

    async def put_user(self, user: str, password: str) -> None:
        # One call in the common case; exit code 70 (EX_SOFTWARE) with "already exists" means: set the password.
        code, text = await self._run("add_user", user, stdin=password, ok_codes=(0, 70))
        if code == 70:
            if "already exists" not in text:
                raise BrokerAdminError(f"rabbitmqctl add_user failed: {text[-300:]}")
            await self._run("change_password", user, stdin=password)

    async def delete_user(self, user: str) -> None:
        # Exit code 67 (EX_NOUSER): there was no such user, which is what we want.
        await self._run("delete_user", user, ok_codes=(0, 67))

    async def add_vhost(self, vhost: str) -> None:
        await self._run("add_vhost", vhost)

    async def reset_user(self, user: str) -> None:
        await self._run("set_user_tags", user)  # no tags
        for listing, clear in (
            ("list_user_permissions", "clear_permissions"),
            ("list_user_topic_permissions", "clear_topic_permissions"),
        ):
            _, text = await self._run(listing, user, "--no-table-headers")
            for vhost in sorted({line.split("\t", 1)[0] for line in text.splitlines() if line.strip()}):
                await self._run(clear, "-p", vhost, user)

    async def delete_vhost(self, vhost: str) -> None:
        _, text = await self._run("list_vhosts", "--no-table-headers")
        if vhost in text.splitlines():
            await self._run("delete_vhost", vhost)

    async def set_permissions(self, vhost: str, user: str, permissions: Permissions) -> None:
        await self._run(
            "set_permissions", "-p", vhost, user, permissions.configure, permissions.write, permissions.read
        )

    async def set_topic_permissions(self, vhost: str, user: str, permissions: TopicPermissions) -> None:
        await self._run(
            "set_topic_permissions",
            "-p",
            vhost,
            user,
            permissions.exchange,
            permissions.write,
            permissions.read,
        )


async def connect_admin(kind: str, *, amqp_url: str, management_url: str) -> HttpBrokerAdmin | RabbitmqctlBrokerAdmin:
    """The backend `kind` asks for; `auto`: the management API if it answers, else rabbitmqctl if installed."""
    user, password = credentials_of(amqp_url)
    if kind in ("http", "auto"):
        http = HttpBrokerAdmin(management_url, user, password)
        try:
            await http.ping()
        except BrokerAdminError:
            await http.aclose()
            if kind == "http":
                raise
        else:
            return http
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise BrokerAdminError(
            f"neither the management API at {management_url} nor rabbitmqctl is available to provision users"
        )
    return RabbitmqctlBrokerAdmin(exe)
