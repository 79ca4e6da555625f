"""Each consumer's handler as a specification: a message in, rows and emitted messages out (no broker).

Run on in-memory SQLite through the real batcher (`tests/handler_env.py`), with the city's own configuration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest.mock import ANY

import pytest

from consumers.contractors.rules import Sender
from consumers.contractors.scheduling import DeliveryService
from consumers.contractors.status import StatusService
from consumers.notifier.handler import NotifierService
from consumers.router.handler import RoutingService
from consumers.spikes.config import load_spike_config
from consumers.spikes.handler import SpikesService
from consumers.stats.handler import StatsService
from contracts import CallLogged, ReportFiled, SpikeDetected, WorkOrderIssued, WorkOrderStatusChanged
from hub.bootstrap import Domain
from hub.settings import Settings
from tests.handler_env import NOW, HandlerEnv

pytestmark = pytest.mark.unit

SETTINGS = Settings()
DOMAIN = Domain.load(SETTINGS)
ROUTER = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar, clock=lambda: NOW)
STATUS = StatusService(DOMAIN.catalogue, DOMAIN.calendar, user_prefix="contractor-", trusted_users=frozenset())
STATS = StatsService(DOMAIN.calendar)
DELIVERIES = DeliveryService(DOMAIN.catalogue, clock=lambda: NOW)
NOTIFIER = NotifierService(("email", "webhook"), clock=lambda: NOW)
SPIKES = SpikesService(load_spike_config(SETTINGS.spikes.file), DOMAIN.catalogue, DOMAIN.calendar, clock=lambda: NOW)


def report(category: str = "waste.missed_collection", **changes: Any) -> ReportFiled:
    data: dict[str, Any] = {
        "report_id": "rep-1",
        "filed_at": "2026-03-02T10:15:00+01:00",
        "channel": "web",
        "category": category,
        "waste_fraction": "residual" if category.startswith("waste.") else None,
        "location": {"street": "Stapelstraat", "house_number": "12", "postcode": "3800", "district": "Brustem"},
        "description": "Restafval niet opgehaald.",
    }
    return ReportFiled.model_validate(data | changes)


def call() -> CallLogged:
    example = CallLogged.model_json_schema()["examples"][0]
    return CallLogged.model_validate(
        example | {"started_at": "2026-03-02T10:10:00+01:00", "related_report_id": "rep-1"}
    )


async def issued(env: HandlerEnv, category: str = "waste.missed_collection") -> WorkOrderIssued:
    """A report routed first: the work order the router issued for it."""
    out = await env.handle(ROUTER.apply, report(category), "m-report")
    return WorkOrderIssued.model_validate(out.emitted[0][1])


def started(order: WorkOrderIssued) -> WorkOrderStatusChanged:
    return WorkOrderStatusChanged.model_validate(
        {
            "work_order_id": order.work_order_id,
            "assignee": order.assignee,
            "status": "in_progress",
            "changed_at": (NOW + dt.timedelta(hours=1)).isoformat(),
        }
    )


# --- router ---------------------------------------------------------------------------------------------------


async def test_a_missed_collection_goes_to_the_waste_company(handler_env: HandlerEnv) -> None:
    out = await handler_env.handle(ROUTER.apply, report("waste.missed_collection"), "m-1")
    assert out.rows("reports", "report_id", "status") == [{"report_id": "rep-1", "status": "routed"}]
    assert out.rows("work_orders", "assignee", "status") == [{"assignee": "waste_company", "status": "issued"}]
    assert out.emitted == [("workorder.issued.waste_company", ANY)]


async def test_a_report_seen_again_under_another_message_id_issues_nothing(handler_env: HandlerEnv) -> None:
    await handler_env.handle(ROUTER.apply, report(), "m-1")
    again = await handler_env.handle(ROUTER.apply, report(), "m-2")
    assert len(again.rows("work_orders")) == 1
    assert again.emitted == []


# --- contractors: status and deliveries -----------------------------------------------------------------------


async def test_a_contractor_starting_its_work_order_is_applied_and_announced(handler_env: HandlerEnv) -> None:
    order = await issued(handler_env)
    sender = Sender.amqp(f"contractor-{order.assignee}")
    out = await handler_env.handle(STATUS.apply, started(order), "m-status", sender, message_id="m-status")
    assert out.rows("work_orders", "status") == [{"status": "in_progress"}]
    assert out.emitted == [("workorder.status.applied", ANY)]


async def test_a_work_order_for_a_webhook_contractor_is_scheduled_for_sending(handler_env: HandlerEnv) -> None:
    order = await issued(handler_env)
    out = await handler_env.handle(DELIVERIES.enqueue, order)
    assert out.rows("deliveries", "work_order_id", "channel", "state", "attempts") == [
        {"work_order_id": order.work_order_id, "channel": "webhook", "state": "pending", "attempts": 0}
    ]
    assert out.emitted == []


# --- notifier ---------------------------------------------------------------------------------------------------


async def test_an_alert_is_scheduled_once_per_channel(handler_env: HandlerEnv) -> None:
    alert = spike_detected()
    await handler_env.handle(NOTIFIER.enqueue, alert, "alert-1")
    out = await handler_env.handle(NOTIFIER.enqueue, alert, "alert-1", message_id="replayed")
    assert out.rows("alert_notifications", "notification_id", "state") == [
        {"notification_id": "alert-1/email", "state": "pending"},
        {"notification_id": "alert-1/webhook", "state": "pending"},
    ]
    assert out.emitted == []


# --- statistics -------------------------------------------------------------------------------------------------


async def test_a_report_is_counted_once_whatever_its_message_id(handler_env: HandlerEnv) -> None:
    await handler_env.handle(STATS.apply_report, report(), message_id="m-1")
    out = await handler_env.handle(STATS.apply_report, report(), message_id="m-2")
    assert out.rows("stat_reports", "report_id", "category") == [
        {"report_id": "rep-1", "category": "waste.missed_collection"}
    ]
    assert out.emitted == []


# --- spikes -----------------------------------------------------------------------------------------------------


async def test_a_call_and_its_report_are_counted_as_contacts(handler_env: HandlerEnv) -> None:
    await handler_env.handle(SPIKES.apply_call, call(), "m-call")
    out = await handler_env.handle(SPIKES.apply_report, report(), "m-report")
    assert out.rows("spike_contacts", "contact_id", "kind") == [
        {"contact_id": ANY, "kind": "call"},
        {"contact_id": ANY, "kind": "report"},
    ]
    assert out.emitted == []


def spike_detected() -> SpikeDetected:
    return SpikeDetected.model_validate(SpikeDetected.model_json_schema()["examples"][0])
