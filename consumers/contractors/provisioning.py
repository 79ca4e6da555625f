"""One broker user per contractor, allowed to read its own work-order queue and to publish its status updates only.

Per contractor `<code>`, in the hub's vhost:

* configure: nothing (`""`): it cannot declare, delete or purge anything;
* write: `^city\\.events$`: it can publish only to the city exchange, and the topic permission on `city.events`
  limits the routing key to `workorder.status` (no `report.filed`, no `workorder.issued.*`);
* read: `^workorders\\.<code>$`: it can consume or get its own queue and nothing else. Binding a queue needs read on
  the exchange, which it does not have, so it cannot bind a queue to `#` and read everyone's orders;
* no tags: RabbitMQ refuses a publish whose AMQP `user_id` is not the authenticated user, so the `user_id` the
  status consumer reads is who published (a status update for another contractor is refused by the hub).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from consumers.contractors.rules import broker_user
from consumers.domain.catalogue import Catalogue
from contracts import WorkOrderStatusChanged
from infra.broker_admin import BrokerAdmin, Permissions, TopicPermissions
from infra.topology import CITY_EVENTS, workorder_queue_name


@dataclass(frozen=True)
class ContractorAccess:
    assignee: str
    user: str
    permissions: Permissions
    topic: TopicPermissions


def access_for(assignee: str, user_prefix: str) -> ContractorAccess:
    return ContractorAccess(
        assignee=assignee,
        user=broker_user(user_prefix, assignee),
        permissions=Permissions(
            configure="",
            write=f"^{re.escape(CITY_EVENTS.name)}$",
            read=f"^{re.escape(workorder_queue_name(assignee))}$",
        ),
        topic=TopicPermissions(
            exchange=CITY_EVENTS.name,
            write=f"^{re.escape(WorkOrderStatusChanged.routing_key)}$",
            read="^$",
        ),
    )


def provisioning_plan(catalogue: Catalogue, user_prefix: str) -> list[ContractorAccess]:
    """Every contractor gets a user: queue contractors read their orders with it, all send status updates with it."""
    return [access_for(a.code, user_prefix) for a in catalogue.assignees.values() if a.is_contractor]


@dataclass(frozen=True)
class Provisioned:
    access: ContractorAccess
    created: bool
    password: str | None  # only when set now: printed or written once, never stored by the hub


def new_password() -> str:
    return secrets.token_urlsafe(24)


async def provision(
    admin: BrokerAdmin,
    vhost: str,
    plan: list[ContractorAccess],
    *,
    rotate: bool = False,
    password_factory: Callable[[], str] = new_password,
) -> list[Provisioned]:
    """Create missing users (or set new passwords with `rotate`) and set their access to exactly the plan; idempotent.

    An existing user is reset first: no tags (an `impersonator` tag would let it publish under another contractor's
    `user_id`, `administrator` or `management` would open the management API), no permissions in any other vhost
    and no topic permissions on any other exchange; its password stays unless `rotate`.
    """
    done: list[Provisioned] = []
    for access in plan:
        exists = await admin.user_exists(access.user)
        password = None
        if exists:
            await admin.reset_user(access.user)
        if not exists or rotate:
            password = password_factory()
            await admin.put_user(access.user, password)
        await admin.set_permissions(vhost, access.user, access.permissions)
        await admin.set_topic_permissions(vhost, access.user, access.topic)
        done.append(Provisioned(access=access, created=not exists, password=password))
    return done
