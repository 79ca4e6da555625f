"""`hub open311 keys add NAME | list | revoke NAME`: the Open311 clients' API keys.

`keys add` prints the new key alone on its last line; it is shown this once (only its SHA-256 is stored).
Registered by `hub.cli` through `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from infra.cli import Subparsers, bind, command, stamp

T = TypeVar("T")


class CliSettings(Protocol):
    """What these commands read of the hub's settings."""

    @property
    def database_url(self) -> str: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `open311 keys add|list|revoke` to the `hub` command's subparsers."""
    open311 = sub.add_parser("open311", help="the Open311 GeoReport v2 server's clients (API keys)")
    o_sub = open311.add_subparsers(metavar="WHAT")
    keys = o_sub.add_parser("keys", help="per-client API keys: stored hashed, shown once")
    k_sub = keys.add_subparsers(metavar="ACTION")
    add = k_sub.add_parser("add", help="a new key for a client; the key is printed alone on the last line")
    add.add_argument("name", help="the client, e.g. fixmystreet or stad-app")
    command(add, bind(keys_add_cmd, settings))
    listing = k_sub.add_parser("list", help="clients, when their key was made, last used, revoked")
    command(listing, bind(keys_list_cmd, settings))
    revoke = k_sub.add_parser("revoke", help="revoke a client's key at once")
    revoke.add_argument("name", help="the client whose key is revoked (as `hub open311 keys list` shows it)")
    command(revoke, bind(keys_revoke_cmd, settings))


def _run(settings: CliSettings, job: Callable[[Any], Awaitable[T]]) -> T:
    from consumers.open311.keys import ApiKeys
    from infra.db import command_sessions

    async def go() -> T:
        async with command_sessions(settings.database_url, upgrade=True) as sessions:
            return await job(ApiKeys(sessions))

    return asyncio.run(go())


def keys_add_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.open311.keys import ApiKeyError

    try:
        key = _run(settings, lambda keys: keys.add(args.name))
    except ApiKeyError as exc:
        print(f"error: {exc}")
        return 1
    print(f"API key for Open311 client '{args.name.strip()}' (shown once; only its hash is stored):")
    print(key)
    return 0


def keys_list_cmd(_args: argparse.Namespace, settings: CliSettings) -> int:
    rows = _run(settings, lambda keys: keys.list())
    if not rows:
        print("no Open311 clients (hub open311 keys add NAME)")
        return 0
    print(f"{'client':<30} {'created':<26} {'last used':<26} revoked")
    for row in rows:
        last = stamp(row.last_used_at)
        revoked = stamp(row.revoked_at)
        print(f"{row.name:<30} {stamp(row.created_at):<26} {last:<26} {revoked}")
    return 0


def keys_revoke_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.open311.keys import ApiKeyError

    try:
        _run(settings, lambda keys: keys.revoke(args.name))
    except ApiKeyError as exc:
        print(f"error: {exc}")
        return 1
    print(f"revoked the key of Open311 client '{args.name}'")
    return 0
