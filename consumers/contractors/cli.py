"""`hub contractors provision|page-link` and `hub deliveries list|replay|enable`: `register` adds them to the `hub`
command line."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from consumers.contractors.provisioning import ContractorAccess, provision, provisioning_plan
from consumers.contractors.settings import ContractorsSettings
from consumers.domain.catalogue import Catalogue
from consumers.domain.settings import DomainSettings
from infra.broker_admin import BrokerAdminError, connect_admin, vhost_of
from infra.cli import Subparsers, bind, command
from infra.db import command_sessions
from infra.sending import PENDING
from infra.settings import SmtpServerSettings


class CliSettings(Protocol):
    """What these commands read of the hub's settings (the composition root passes its own)."""

    @property
    def amqp_url(self) -> str: ...

    @property
    def database_url(self) -> str: ...

    @property
    def domain(self) -> DomainSettings: ...

    @property
    def contractors(self) -> ContractorsSettings: ...

    @property
    def smtp(self) -> SmtpServerSettings: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `hub contractors provision` and `hub deliveries list|replay|enable`."""
    contractors = sub.add_parser("contractors", help="external contractors' broker access")
    ct_sub = contractors.add_subparsers(metavar="ACTION")
    prov = ct_sub.add_parser("provision", help="a broker user per contractor: its own queue, its status updates only")
    prov.add_argument("--dry-run", action="store_true", help="show the users and permissions, change nothing")
    prov.add_argument("--secrets-file", type=Path, help="write new passwords to this file (mode 600), not stdout")
    prov.add_argument("--rotate-passwords", action="store_true", help="new passwords for existing users too")
    prov.add_argument("--vhost", help="vhost to grant in (default: the one of HUB_AMQP_URL)")
    command(prov, bind(provision_cmd, settings))
    page = ct_sub.add_parser(
        "page-link",
        help="a contractor's signed link to its own page of work orders (/contractors/)",
        description="Signed with the assignee's link secret (HUB_CONTRACTOR_LINK_SECRETS), valid for "
        "HUB_CONTRACTOR_LINK_TTL_DAYS days, starting with HUB_PUBLIC_URL. Example: hub contractors page-link road_firm",
    )
    page.add_argument("name", help="the assignee's code (e.g. road_firm)")
    command(page, bind(page_link_cmd, settings))
    deliveries = sub.add_parser("deliveries", help="work orders sent to webhooks and by e-mail")
    dl_sub = deliveries.add_subparsers(metavar="ACTION")
    dl_list = dl_sub.add_parser("list", help="endpoints and deliveries, newest first")
    dl_list.add_argument(
        "--state", choices=["pending", "delivered", "exhausted"], help="only deliveries in this state (default: all)"
    )
    dl_list.add_argument("--assignee", help="only this assignee's deliveries (default: all)")
    dl_list.add_argument("--limit", type=int, default=50, help="deliveries shown, newest first")
    command(dl_list, bind(deliveries_list_cmd, settings))
    dl_replay = dl_sub.add_parser("replay", help="send exhausted deliveries again (same webhook-id)")
    dl_replay.add_argument("--id", type=int, help="one delivery, by its id in `hub deliveries list`")
    dl_replay.add_argument("--all-exhausted", action="store_true", help="every exhausted delivery")
    command(dl_replay, bind(deliveries_replay_cmd, settings))
    dl_enable = dl_sub.add_parser("enable", help="resume an endpoint disabled by 410 Gone (and close its circuit)")
    dl_enable.add_argument("assignee", help="the assignee's code, e.g. grid_operator")
    command(dl_enable, bind(deliveries_enable_cmd, settings))


def _describe(access: ContractorAccess, vhost: str) -> str:
    p, t = access.permissions, access.topic
    return (
        f"{access.user} (vhost {vhost}): configure {p.configure!r} write {p.write!r} read {p.read!r}; "
        f"topic {t.exchange}: write {t.write!r} read {t.read!r}"
    )


def page_link_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    """Print the assignee's page link: the URL alone on the last line, its expiry before it."""
    from consumers.contractors.links_http import link_signer

    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    if args.name not in catalogue.assignees:
        print(f"error: unknown assignee {args.name!r} (known: {', '.join(catalogue.assignees)})", file=sys.stderr)
        return 1
    signer = link_signer(settings.contractors)
    if not signer.signs_for(args.name):
        print(f"error: no link secret for {args.name} in HUB_CONTRACTOR_LINK_SECRETS", file=sys.stderr)
        return 1
    now = dt.datetime.now(dt.UTC)
    token = signer.page_token(args.name, now)
    print(f"page of {catalogue.assignee(args.name).name}, valid until {(now + signer.ttl):%Y-%m-%d %H:%M} UTC:")
    print(signer.page_url(token))
    return 0


def provision_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    vhost = args.vhost or vhost_of(settings.amqp_url)
    plan = provisioning_plan(catalogue, settings.contractors.contractor_user_prefix)
    if args.dry_run:
        print(f"dry run: {len(plan)} contractor user(s) would be provisioned; nothing changed")
        for access in plan:
            print("  " + _describe(access, vhost))
        return 0

    async def _go() -> list[tuple[ContractorAccess, bool, str | None]]:
        admin = await connect_admin(
            settings.contractors.broker_admin,
            amqp_url=settings.amqp_url,
            management_url=settings.contractors.rabbitmq_management_url,
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


def deliveries_list_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.contractors import operations
    from consumers.contractors.endpoints import when
    from consumers.domain.calendar import CityCalendar

    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    tz = CityCalendar.load(settings.domain.calendar_file).tz

    def _fmt(moment: dt.datetime | None) -> str:
        return when(moment, tz)

    async def _go() -> None:
        async with command_sessions(settings.database_url) as sessions, sessions() as session:
            states = await operations.endpoints(
                session,
                catalogue,
                webhook_secrets=settings.contractors.webhook_secrets,
                smtp_host=settings.smtp.host,
                failure_threshold=settings.contractors.circuit_failure_threshold,
                now=dt.datetime.now(dt.UTC),
                tz=tz,
            )
            print(f"endpoints (times {tz.key}):")
            for s in states:
                print(f"  {s.assignee:<24} {s.channel:<8} {s.state}; {s.detail}")
            deliveries = await operations.deliveries(
                session, state=args.state, assignee=args.assignee, limit=args.limit
            )
            print(f"deliveries ({len(deliveries)} shown, newest first):")
            print(f"  {'id':>6} {'state':<10} {'assignee':<20} {'channel':<8} {'tries':>5} {'next attempt':<25} last")
            for d in deliveries:
                last = f"{d.last_status or ''} {d.last_error or ''}".strip() or "-"
                print(
                    f"  {d.id:>6} {d.state:<10} {d.assignee:<20} {d.channel:<8} {d.attempts:>5} "
                    f"{_fmt(d.next_attempt_at) if d.state == PENDING else '-':<25} {last[:60]}  {d.work_order_id}"
                )

    asyncio.run(_go())
    return 0


def deliveries_replay_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.contractors import operations

    if args.id is None and not args.all_exhausted:
        print("error: give --id ID or --all-exhausted")
        return 2

    async def _go() -> int:
        async with command_sessions(settings.database_url) as sessions, sessions() as session, session.begin():
            # Same webhook-id and body as before: a receiver that got it after all drops the copy.
            return await operations.replay(session, delivery_id=args.id, now=dt.datetime.now(dt.UTC))

    n = asyncio.run(_go())
    print(f"{n} exhausted deliver{'y' if n == 1 else 'ies'} scheduled again")
    return 0 if n or args.all_exhausted else 1


def deliveries_enable_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.contractors import operations

    async def _go() -> int:
        async with command_sessions(settings.database_url) as sessions, sessions() as session, session.begin():
            return await operations.enable(session, args.assignee, now=dt.datetime.now(dt.UTC))

    if asyncio.run(_go()):
        print(f"endpoint of {args.assignee} enabled; its waiting deliveries go out again")
        return 0
    print(f"error: no delivery endpoint {args.assignee!r}")
    return 1
