"""`hub contractors provision` and `hub deliveries list|replay|enable` (the parsers are registered in hub/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update

from consumers.contractors.provisioning import ContractorAccess, provision, provisioning_plan
from consumers.contractors.tables import Delivery, DeliveryEndpoint
from consumers.domain.catalogue import Catalogue
from infra.broker_admin import BrokerAdminError, connect_admin, vhost_of
from infra.db import create_engine, create_session_factory
from infra.sending import EXHAUSTED, PENDING


class CliSettings(Protocol):
    """What these commands read of the hub's settings (the composition root passes its own)."""

    @property
    def amqp_url(self) -> str: ...

    @property
    def database_url(self) -> str: ...

    @property
    def categories_file(self) -> Path: ...

    @property
    def assignees_file(self) -> Path: ...

    @property
    def contractor_user_prefix(self) -> str: ...

    @property
    def broker_admin(self) -> str: ...

    @property
    def rabbitmq_management_url(self) -> str: ...


def _describe(access: ContractorAccess, vhost: str) -> str:
    p, t = access.permissions, access.topic
    return (
        f"{access.user} (vhost {vhost}): configure {p.configure!r} write {p.write!r} read {p.read!r}; "
        f"topic {t.exchange}: write {t.write!r} read {t.read!r}"
    )


def provision_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    catalogue = Catalogue.load(settings.categories_file, settings.assignees_file)
    vhost = args.vhost or vhost_of(settings.amqp_url)
    plan = provisioning_plan(catalogue, settings.contractor_user_prefix)
    if args.dry_run:
        print(f"dry run: {len(plan)} contractor user(s) would be provisioned; nothing changed")
        for access in plan:
            print("  " + _describe(access, vhost))
        return 0

    async def _go() -> list[tuple[ContractorAccess, bool, str | None]]:
        admin = await connect_admin(
            settings.broker_admin, amqp_url=settings.amqp_url, management_url=settings.rabbitmq_management_url
        )
        try:
            print(f"provisioning through {admin.name}")
            done = await provision(admin, vhost, plan, rotate=args.rotate_passwords)
        finally:
            await admin.aclose()
        return [(d.access, d.created, d.password) for d in done]

    try:
        done = asyncio.run(_go())
    except BrokerAdminError as exc:
        print(f"error: {exc}")
        return 1
    secrets = {
        access.user: {"assignee": access.assignee, "vhost": vhost, "password": pw} for access, _, pw in done if pw
    }
    for access, created, password in done:
        state = "created" if created else ("password rotated" if password else "exists, password unchanged")
        print(f"  {state}: {_describe(access, vhost)}")
    if secrets and args.secrets_file:
        path: Path = args.secrets_file
        # Written once, readable by the operator only; the hub keeps no copy.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(secrets, out, indent=2, sort_keys=True)
        print(f"{len(secrets)} new password(s) written to {path} (mode 600); they are shown nowhere else")
    elif secrets:
        print("new passwords (shown once, store them now):")
        for user, entry in sorted(secrets.items()):
            print(f"  {user}: {entry['password']}")
    return 0


def _fmt(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def deliveries_list_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    async def _go() -> None:
        engine = create_engine(settings.database_url)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as session:
                endpoints = (
                    await session.execute(select(DeliveryEndpoint).order_by(DeliveryEndpoint.assignee))
                ).scalars()
                print("endpoints:")
                for ep in endpoints:
                    state = f"DISABLED ({ep.disabled_reason})" if ep.disabled_at else "enabled"
                    print(
                        f"  {ep.assignee:<24} {state}; consecutive failures {ep.consecutive_failures}; "
                        f"circuit open until {_fmt(ep.open_until)}"
                    )
                stmt = select(Delivery).order_by(Delivery.id.desc()).limit(args.limit)
                if args.state:
                    stmt = stmt.where(Delivery.state == args.state)
                if args.assignee:
                    stmt = stmt.where(Delivery.assignee == args.assignee)
                rows = list((await session.execute(stmt)).scalars())
                print(f"deliveries ({len(rows)} shown, newest first):")
                print(
                    f"  {'id':>6} {'state':<10} {'assignee':<20} {'channel':<8} {'tries':>5} {'next attempt':<19} last"
                )
                for d in rows:
                    last = f"{d.last_status or ''} {d.last_error or ''}".strip() or "-"
                    print(
                        f"  {d.id:>6} {d.state:<10} {d.assignee:<20} {d.channel:<8} {d.attempts:>5} "
                        f"{_fmt(d.next_attempt_at) if d.state == PENDING else '-':<19} {last[:60]}  {d.work_order_id}"
                    )
        finally:
            await engine.dispose()

    asyncio.run(_go())
    return 0


def deliveries_replay_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    if args.id is None and not args.all_exhausted:
        print("error: give --id ID or --all-exhausted")
        return 2

    async def _go() -> int:
        engine = create_engine(settings.database_url)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as session, session.begin():
                stmt = update(Delivery).where(Delivery.state == EXHAUSTED)
                if args.id is not None:
                    stmt = stmt.where(Delivery.id == args.id)
                # Same webhook-id and body as before: a receiver that got it after all drops the copy.
                result = await session.execute(
                    stmt.values(state=PENDING, attempts=0, next_attempt_at=dt.datetime.now(dt.UTC))
                )
                return int(getattr(result, "rowcount", 0) or 0)
        finally:
            await engine.dispose()

    n = asyncio.run(_go())
    print(f"{n} exhausted deliver{'y' if n == 1 else 'ies'} scheduled again")
    return 0 if n or args.all_exhausted else 1


def deliveries_enable_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    async def _go() -> int:
        engine = create_engine(settings.database_url)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as session, session.begin():
                result = await session.execute(
                    update(DeliveryEndpoint)
                    .where(DeliveryEndpoint.assignee == args.assignee)
                    .values(
                        disabled_at=None,
                        disabled_reason=None,
                        consecutive_failures=0,
                        open_until=None,
                        updated_at=dt.datetime.now(dt.UTC),
                    )
                )
                return int(getattr(result, "rowcount", 0) or 0)
        finally:
            await engine.dispose()

    if asyncio.run(_go()):
        print(f"endpoint of {args.assignee} enabled; its waiting deliveries go out again")
        return 0
    print(f"error: no delivery endpoint {args.assignee!r}")
    return 1
