"""`hub users add|list|disable|enable|reset-password|roles` and `hub tokens add|list|revoke`: the console's access.

A password comes from `--password-file F` (its first line) or is made here (20 random characters) and printed
once, alone on the last line; it is never logged. A token is printed once the same way; only its SHA-256 is kept.
Registered by `hub.cli` through `register(subparsers, context)`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

from consumers.console.settings import AuthSettings
from infra.cli import Subparsers, bind, command, stamp

T = TypeVar("T")

ROLE_HELP = "comms, agent, ops or management (repeat for several)"


class CliSettings(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def auth(self) -> AuthSettings: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `users ...` and `tokens ...` to the `hub` command's subparsers."""
    users = sub.add_parser("users", help="console users and their roles: add, list, disable, reset a password")
    u_sub = users.add_subparsers(metavar="ACTION")
    add = u_sub.add_parser("add", help="a new user; a made password is printed once, alone on the last line")
    add.add_argument("name", help="the user's sign-in name")
    add.add_argument("--role", action="append", required=True, help=ROLE_HELP)
    add.add_argument("--password-file", type=Path, help="read the password from this file's first line")
    add.add_argument("--sso-only", action="store_true", help="no password: signs in only by the trusted SSO header")
    add.add_argument(
        "--language", default="nl", choices=("nl", "en", "fr"), help="the console's language (default: nl)"
    )
    command(add, bind(users_add_cmd, settings))
    listing = u_sub.add_parser("list", help="users, roles, language, last login, disabled")
    command(listing, bind(users_list_cmd, settings))
    disable = u_sub.add_parser("disable", help="disable a user; their sessions end at once")
    disable.add_argument("name", help="the user (as `hub users list` shows it)")
    command(disable, bind(users_disable_cmd, settings))
    enable = u_sub.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name", help="the user (as `hub users list` shows it)")
    command(enable, bind(users_enable_cmd, settings))
    reset = u_sub.add_parser("reset-password", help="a new password (printed once, or from a file); sessions end")
    reset.add_argument("name", help="the user (as `hub users list` shows it)")
    reset.add_argument("--password-file", type=Path, help="read the password from this file's first line")
    command(reset, bind(users_reset_cmd, settings))
    roles = u_sub.add_parser("roles", help="replace a user's roles")
    roles.add_argument("name", help="the user (as `hub users list` shows it)")
    roles.add_argument("--role", action="append", required=True, help=ROLE_HELP)
    command(roles, bind(users_roles_cmd, settings))

    tokens = sub.add_parser("tokens", help="API tokens for machine clients of /api/stats: add, list, revoke")
    t_sub = tokens.add_subparsers(metavar="ACTION")
    t_add = t_sub.add_parser("add", help="a new token; printed once, alone on the last line (stored hashed)")
    t_add.add_argument("name", help="the client, e.g. powerbi")
    t_add.add_argument("--role", action="append", required=True, help="management (the statistics API)")
    command(t_add, bind(tokens_add_cmd, settings))
    t_list = t_sub.add_parser("list", help="tokens, roles, made, last used, revoked")
    command(t_list, bind(tokens_list_cmd, settings))
    t_revoke = t_sub.add_parser("revoke", help="revoke a token at once")
    t_revoke.add_argument("name", help="the token (as `hub tokens list` shows it)")
    command(t_revoke, bind(tokens_revoke_cmd, settings))


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _run(settings: CliSettings, job: Callable[..., Awaitable[T]]) -> T:
    from consumers.console.accounts import Accounts
    from infra.db import create_engine, create_session_factory, upgrade_schema

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_schema(engine)
            return await job(Accounts(create_session_factory(engine), settings.auth))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _password(path: Path | None) -> tuple[str, bool]:
    """The password from the file (first line), or a new one: (password, made here)."""
    from consumers.console.accounts import AccessError, new_password

    if path is None:
        return new_password(), True
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AccessError(f"cannot read the password file {path}: {exc.strerror}") from None
    return (lines[0] if lines else ""), False


def _failing(job: Callable[[], int]) -> int:
    from consumers.console.accounts import AccessError

    try:
        return job()
    except AccessError as exc:
        print(f"error: {exc}")
        return 1


def users_add_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        password, made = (None, False) if args.sso_only else _password(args.password_file)
        _run(settings, lambda a: a.add_user(args.name, args.role, password, language=args.language, actor=_actor()))
        print(f"user '{args.name.strip()}' added with the role(s) {', '.join(args.role)}")
        if made and password is not None:
            print("password (shown once; only its hash is stored):")
            print(password)
        return 0

    return _failing(job)


def users_list_cmd(_args: argparse.Namespace, settings: CliSettings) -> int:
    rows = _run(settings, lambda a: a.users())
    if not rows:
        print("no console users (hub users add NAME --role ROLE)")
        return 0
    print(f"{'user':<24} {'roles':<28} {'lang':<4} {'last login':<26} disabled")
    for r in rows:
        last = stamp(r.last_login_at)
        off = stamp(r.disabled_at)
        roles = ",".join(r.roles) + ("" if r.has_password else " (sso)")
        print(f"{r.name:<24} {roles:<28} {r.language:<4} {last:<26} {off}")
    return 0


def users_disable_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        ended = _run(settings, lambda a: a.disable(args.name, actor=_actor()))
        print(f"user '{args.name}' disabled; {ended} session(s) ended")
        return 0

    return _failing(job)


def users_enable_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        _run(settings, lambda a: a.enable(args.name, actor=_actor()))
        print(f"user '{args.name}' enabled")
        return 0

    return _failing(job)


def users_reset_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        password, made = _password(args.password_file)
        _run(settings, lambda a: a.set_password(args.name, password, actor=_actor()))
        print(f"password of '{args.name}' changed; their sessions ended")
        if made:
            print("password (shown once; only its hash is stored):")
            print(password)
        return 0

    return _failing(job)


def users_roles_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        _run(settings, lambda a: a.set_roles(args.name, args.role, actor=_actor()))
        print(f"user '{args.name}' now has the role(s) {', '.join(args.role)}")
        return 0

    return _failing(job)


def tokens_add_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        token = _run(settings, lambda a: a.add_token(args.name, args.role, actor=_actor()))
        print(f"API token '{args.name.strip()}' with the role(s) {', '.join(args.role)} (shown once; stored hashed):")
        print(token)
        return 0

    return _failing(job)


def tokens_list_cmd(_args: argparse.Namespace, settings: CliSettings) -> int:
    rows = _run(settings, lambda a: a.tokens())
    if not rows:
        print("no API tokens (hub tokens add NAME --role management)")
        return 0
    print(f"{'token':<24} {'roles':<24} {'made':<26} {'last used':<26} revoked")
    for r in rows:
        last = stamp(r.last_used_at)
        off = stamp(r.revoked_at)
        print(f"{r.name:<24} {','.join(r.roles):<24} {stamp(r.created_at):<26} {last:<26} {off}")
    return 0


def tokens_revoke_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    def job() -> int:
        _run(settings, lambda a: a.revoke_token(args.name, actor=_actor()))
        print(f"API token '{args.name}' revoked")
        return 0

    return _failing(job)
