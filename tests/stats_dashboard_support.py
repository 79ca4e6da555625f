"""A known week of statistics for the HTTP API and dashboard tests, put in through the real stats handler.

The week (2021-03-15..21, one planted incident) is simulated, its calls and reports, the router's work orders,
some status changes and the incident's alert and resolution go through `StatsService` and the batcher as the
subscriber applies them. `Week` keeps the messages, so a test computes every expected figure from them,
independently of the statistics code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.router.handler import RoutingService
from consumers.stats.handler import StatsService
from contracts import (
    BroadcastChannel,
    CallLogged,
    IncidentBroadcast,
    ReportFiled,
    SpikeDetected,
    SpikeResolved,
    WorkOrderIssued,
    WorkOrderStatus,
    WorkOrderStatusApplied,
)
from hub.bootstrap import Domain
from hub.settings import Settings
from hub.simulator import PlantedIncident, simulate
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory

DOMAIN = Domain.load(Settings())
CALENDAR = DOMAIN.calendar
TZ = CALENDAR.tz
FIRST = dt.date(2021, 3, 15)
DAYS = 7
SEED = 20210315
# The day work orders are judged against: after every due date of the week, so an open order is overdue.
AS_OF = dt.date(2021, 4, 30)
INCIDENT_ID = "inc-dashboard-test-1"


@dataclass
class Week:
    calls: list[CallLogged]
    reports: list[ReportFiled]
    orders: list[WorkOrderIssued]
    status: dict[str, str]  # work order id -> its last status
    incident: PlantedIncident
    alert: dt.datetime
    resolved: dt.datetime
    broadcast: dt.datetime
    done_hours: dict[str, float] = field(default_factory=dict)  # work order id -> hours to completion

    def incident_calls(self, spans: list[tuple[dt.datetime, dt.datetime]]) -> int:
        """Calls about the incident (its category as the subject, in its district) within the spans."""
        inc = self.incident
        return sum(
            1
            for c in self.calls
            if c.subject == inc.category
            and c.district == inc.district
            and any(start <= c.started_at < end for start, end in spans)
        )

    @property
    def days(self) -> list[dt.date]:
        return [FIRST + dt.timedelta(days=i) for i in range(DAYS)]

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(TZ)

    def calls_in(self, district: str | None = None, category: str | None = None) -> list[CallLogged]:
        subjects = None
        if category is not None:
            known = DOMAIN.catalogue.category(category)
            subjects = {category, *(known.call_subjects if known else ())}
        return [
            c
            for c in self.calls
            if (district is None or c.district == district) and (subjects is None or c.subject in subjects)
        ]

    def reports_in(self, district: str | None = None, category: str | None = None) -> list[ReportFiled]:
        return [
            r
            for r in self.reports
            if (district is None or r.location.district == district) and (category is None or r.category == category)
        ]

    def calls_per_day(self, district: str | None = None, category: str | None = None) -> dict[str, int]:
        per = Counter(self.local(c.started_at).date().isoformat() for c in self.calls_in(district, category))
        return {d.isoformat(): per.get(d.isoformat(), 0) for d in self.days}

    def calls_per_hour(self, district: str | None = None, category: str | None = None) -> list[int]:
        per = Counter(self.local(c.started_at).hour for c in self.calls_in(district, category))
        return [per.get(h, 0) for h in range(24)]

    def orders_per_assignee(self, district: str | None = None, category: str | None = None) -> dict[str, Counter[str]]:
        """assignee -> issued, open, overdue, done, rejected."""
        reports = {r.report_id for r in self.reports_in(district, None)}
        out: dict[str, Counter[str]] = {}
        for order in self.orders:
            if order.report_id not in reports or (category is not None and order.category != category):
                continue
            tally = out.setdefault(order.assignee, Counter())
            tally["issued"] += 1
            status = self.status.get(order.work_order_id, "issued")
            if status == "done":
                tally["done"] += 1
            elif status == "rejected":
                tally["rejected"] += 1
            else:
                tally["open"] += 1
                if order.due_date < AS_OF:
                    tally["overdue"] += 1
        return out

    def median_handle(self) -> float:
        return float(statistics.median(c.duration_seconds for c in self.calls if c.outcome.value != "abandoned"))


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(TZ).date()


def _issued_with(report: ReportFiled) -> list[WorkOrderIssued]:
    """The router's work orders for a report, issued a minute after it was filed (its own clock would put them
    in the present, far from the simulated week)."""
    routing = RoutingService(
        DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar, clock=lambda: report.filed_at + dt.timedelta(minutes=1)
    )
    return routing.work_orders(report)


def build_week() -> Week:
    scenario = simulate(start=FIRST, days=DAYS, seed=SEED, incidents=1)
    incident = scenario.incidents[0]
    orders = sorted((o for r in scenario.reports() for o in _issued_with(r)), key=lambda o: o.work_order_id)
    status: dict[str, str] = {}
    done_hours: dict[str, float] = {}
    # Every fifth order done two hours after it was issued, every seventh done a week late, every eleventh
    # rejected; the rest stay open (and are overdue as of AS_OF).
    for i, order in enumerate(orders):
        if i % 5 == 0:
            status[order.work_order_id] = "done"
            done_hours[order.work_order_id] = 2.0
        elif i % 7 == 0:
            status[order.work_order_id] = "done"
            late = dt.datetime.combine(order.due_date + dt.timedelta(days=7), dt.time(12), tzinfo=TZ)
            done_hours[order.work_order_id] = (late - order.issued_at).total_seconds() / 3600
        elif i % 11 == 0:
            status[order.work_order_id] = "rejected"
    alert = incident.started_at + dt.timedelta(minutes=40)
    # The simulator calls only in opening hours and with category codes as subjects: a few calls after closing
    # time, and some under the telephony system's own short subject for a category (`call_subjects`).
    calls = scenario.calls()
    for i in range(0, 50, 10):
        evening = dt.datetime.combine(local_day(calls[i].started_at), dt.time(18, 30 + i // 10), tzinfo=TZ)
        calls[i] = calls[i].model_copy(update={"started_at": evening})
    missed = [i for i, c in enumerate(calls) if c.subject == "waste.missed_collection"]
    for i in missed[::4]:
        calls[i] = calls[i].model_copy(update={"subject": "missed_collection"})
    return Week(
        calls=calls,
        reports=scenario.reports(),
        orders=orders,
        status=status,
        incident=incident,
        alert=alert,
        resolved=incident.ended_at + dt.timedelta(minutes=30),
        broadcast=alert + dt.timedelta(minutes=30),
        done_hours=done_hours,
    )


async def fill(database_url: str, week: Week) -> None:
    """Apply the week through `StatsService` in batches, as the stats subscriber does."""
    service = StatsService(CALENDAR)
    applies: list[tuple[str, Callable[[AsyncSession], Awaitable[object]]]] = []
    for call in week.calls:
        applies.append((f"call-{call.call_id}", lambda s, m=call: service.apply_call(s, m)))
    for report in week.reports:
        applies.append((f"report-{report.report_id}", lambda s, m=report: service.apply_report(s, m)))
    by_id = {o.work_order_id: o for o in week.orders}
    for order in week.orders:
        applies.append((f"wo-{order.work_order_id}", lambda s, m=order: service.apply_workorder(s, m)))
    for wid, last in week.status.items():
        order = by_id[wid]
        at = order.issued_at + dt.timedelta(hours=week.done_hours.get(wid, 24.0))
        change = WorkOrderStatusApplied(
            work_order_id=wid,
            report_id=order.report_id,
            assignee=order.assignee,
            category=order.category,
            previous_status=WorkOrderStatus.ISSUED,
            status=WorkOrderStatus(last),
            changed_at=at,
            applied_at=at,
        )
        applies.append((f"st-{wid}", lambda s, m=change: service.apply_status(s, m)))
    inc = week.incident
    detected = SpikeDetected.model_validate(
        SpikeDetected.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
        | {
            "incident_id": INCIDENT_ID,
            "incident_key": inc.incident_key,
            "category": inc.category,
            "waste_fraction": inc.waste_fraction,
            "district": inc.district,
            "first_seen_at": inc.started_at,
            "last_seen_at": week.alert,
            "detected_at": week.alert,
        }
    )
    resolved = SpikeResolved(
        incident_id=INCIDENT_ID,
        incident_key=inc.incident_key,
        category=inc.category,
        district=inc.district,
        detected_at=week.alert,
        resolved_at=week.resolved,
        total_calls=inc.calls,
        total_reports=inc.reports,
    )
    applies.append(("spike-detected", lambda s: service.apply_spike(s, detected)))
    applies.append(("spike-resolved", lambda s: service.apply_spike(s, resolved)))
    await submit(database_url, applies)
    # The communication team's notice, after the incident is known (a broadcast needs its incident).
    notice = IncidentBroadcast(
        incident_id=INCIDENT_ID, broadcast_at=week.broadcast, channels=[BroadcastChannel.WEBSITE]
    )
    await submit(database_url, [("broadcast", lambda s: service.apply_broadcast(s, notice))])


SimpleWeek = tuple[list[CallLogged], list[ReportFiled], list[WorkOrderIssued]]


def week_of(first: dt.date, seed: int) -> SimpleWeek:
    """A simulated week without incidents: its calls, reports and the router's work orders."""
    scenario = simulate(start=first, days=7, seed=seed, incidents=0)
    reports = scenario.reports()
    return scenario.calls(), reports, [o for r in reports for o in _issued_with(r)]


async def fill_weeks(database_url: str, *weeks: SimpleWeek) -> None:
    """Weeks of `week_of` through `StatsService`, as the stats subscriber applies them."""
    service = StatsService(CALENDAR)
    applies: list[tuple[str, Callable[[AsyncSession], Awaitable[object]]]] = []
    for calls, reports, orders in weeks:
        applies += [(f"call-{c.call_id}", lambda s, m=c: service.apply_call(s, m)) for c in calls]
        applies += [(f"report-{r.report_id}", lambda s, m=r: service.apply_report(s, m)) for r in reports]
        applies += [(f"wo-{o.work_order_id}", lambda s, m=o: service.apply_workorder(s, m)) for o in orders]
    await submit(database_url, applies)


async def add_calls(database_url: str, calls: list[CallLogged]) -> None:
    service = StatsService(CALENDAR)
    await submit(database_url, [(f"call-{c.call_id}", lambda s, m=c: service.apply_call(s, m)) for c in calls])


async def submit(database_url: str, applies: list[tuple[str, Callable[[AsyncSession], Awaitable[object]]]]) -> None:
    engine = create_engine(database_url)
    try:
        batcher = TransactionBatcher("stats", create_session_factory(engine), max_size=256)
        # In windows, as a subscriber with deliveries in flight: many deliveries share a transaction.
        for i in range(0, len(applies), 256):
            await asyncio.gather(*(batcher.submit(mid, apply) for mid, apply in applies[i : i + 256]))  # type: ignore[arg-type]
        await batcher.stop()
    finally:
        await engine.dispose()
