"""The statistics API's query parameters and answers, as pydantic models: FastAPI validates the one and
serializes the other, and the OpenAPI document shows both.

Unknown parameters are refused (`extra="forbid"`): a misspelt `yaer=2021` silently showing this year would be
worse than a 422 that names it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from consumers.stats.queries import Period

# A read-only public API bounds what one request may cost: three years of days is ~1,100 points per series.
MAX_DAYS = 3 * 366
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
CATEGORY_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


# ========================================================================================================
# Query parameters


# The rules across parameters raise errors of these types (the console words them in the user's language; the
# API's `msg` stays English).
PERIOD_RULES = ("period_year_and_range", "period_to_needs_from", "period_to_before_from", "period_too_long")


class _Params(BaseModel):
    # Unknown parameters are refused: a misspelt `yaer=2021` silently showing this year would be worse.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Params):
    pass


class PeriodParams(_Params):
    """A period of whole local days (Europe/Brussels) and the dashboard's filters."""

    year: int | None = Field(
        default=None, ge=2000, le=2100, description="A calendar year. Default (no year, no from): this year."
    )
    # Days are bounded like years: 0001-01-01 has no UTC midnight before it and 9999-12-31 no day after it.
    date_from: dt.date | None = Field(
        default=None,
        alias="from",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="First day of a range, YYYY-MM-DD (instead of year).",
    )
    date_to: dt.date | None = Field(
        default=None,
        alias="to",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="Last day of the range, inclusive, YYYY-MM-DD (default: today).",
    )
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only calls and reports in this district (calls without a noted district drop out).",
    )
    category: str | None = Field(
        default=None,
        pattern=CATEGORY_PATTERN,
        max_length=64,
        description="Only reports, work orders and incidents of this category, and calls whose subject counts as it.",
    )

    @model_validator(mode="after")
    def _one_period(self) -> PeriodParams:
        if self.year is not None and (self.date_from is not None or self.date_to is not None):
            raise PydanticCustomError("period_year_and_range", "give year, or from (and to), not both")
        if self.date_to is not None and self.date_from is None:
            raise PydanticCustomError("period_to_needs_from", "to needs from")
        if self.date_from is not None and self.date_to is not None:
            if self.date_to < self.date_from:
                raise PydanticCustomError(
                    "period_to_before_from",
                    "to ({to}) is before from ({first})",
                    {"to": str(self.date_to), "first": str(self.date_from)},
                )
            if (self.date_to - self.date_from).days + 1 > MAX_DAYS:
                raise PydanticCustomError("period_too_long", "a range of at most {days} days", {"days": MAX_DAYS})
        return self

    def period(self, today: dt.date) -> Period:
        if self.year is not None:
            return Period.year(self.year)
        if self.date_from is None:
            return Period.year(today.year)
        last = self.date_to or max(today, self.date_from)
        if (last - self.date_from).days + 1 > MAX_DAYS:
            raise PydanticCustomError("period_too_long", "a range of at most {days} days", {"days": MAX_DAYS})
        return Period(self.date_from, last)


class AsOfParams(PeriodParams):
    as_of: dt.date | None = Field(default=None, description="Day work orders are overdue against (default: today).")


Grain = Literal["hour", "day", "week", "month", "year"]


class SeriesParams(PeriodParams):
    grain: Grain = Field(default="day", description="Length of each period of the series.")


ReportGrouping = Literal["category", "district", "channel", "status", "category_district"]


class ReportsParams(PeriodParams):
    by: ReportGrouping = Field(
        default="category",
        description="Grouping; `status` is where the report's work orders stand: open, done, rejected, no work order.",
    )


WorkOrderGrouping = Literal["assignee", "category", "assignee_category"]


class WorkOrdersParams(AsOfParams):
    by: WorkOrderGrouping = Field(default="assignee", description="Grouping of the work orders issued in the period.")


Comparison = Literal["figures", "category", "district"]


class CompareParams(AsOfParams):
    by: Comparison = Field(
        default="figures",
        description="`figures`: the key figures (calls, first-contact resolution, reports, work orders, SLA, "
        "incidents); `category` or `district`: reports per category or district.",
    )


class TimelineParams(_Params):
    before_minutes: int = Field(default=120, ge=15, le=1440, description="Minutes shown before the alert.")
    after_minutes: int | None = Field(
        default=None,
        ge=15,
        le=2880,
        description="Minutes shown after the alert (default: 4 hours, or up to an hour past the resolution, at most 24 hours).",
    )


# ========================================================================================================
# Responses


class PeriodOut(BaseModel):
    first_day: dt.date = Field(description="First local day of the period.")
    last_day: dt.date = Field(description="Last local day, inclusive.")
    days: int
    label: str = Field(description="`2021`, or `2021-03-15..2021-03-21`.")
    timezone: str


class FiltersOut(BaseModel):
    district: str | None
    category: str | None


class Scoped(BaseModel):
    period: PeriodOut
    filters: FiltersOut


class KeyCount(BaseModel):
    key: str
    count: int
    share_pct: float | None = Field(description="Share of the total, in percent (null if the total is 0).")


class CallGroup(BaseModel):
    key: str
    calls: int
    share_pct: float | None
    answered: int
    answered_at_once: int
    first_contact_resolution_pct: float | None = Field(description="Answered at once, of the answered calls.")
    avg_handle_seconds: float | None
    outcomes: dict[str, int] = Field(description="Calls per outcome.")


class CallSummary(BaseModel):
    total: int
    answered: int
    answered_at_once: int
    abandoned: int
    first_contact_resolution_pct: float | None = Field(description="Answered at once, of the answered calls.")
    avg_handle_seconds: float | None = Field(description="Mean handle time of the answered calls.")
    median_handle_seconds: float | None = Field(description="Median handle time of the answered calls.")
    outside_opening_hours: int
    by_topic: list[CallGroup]
    by_outcome: list[KeyCount]
    by_subject: list[CallGroup]


class ReportSummary(BaseModel):
    total: int
    outside_opening_hours: int


class WorkOrderNumbers(BaseModel):
    issued: int
    open: int = Field(description="Issued, neither done, rejected nor merged (overdue ones included).")
    overdue: int = Field(description="Open past their SLA due date, as of `as_of`.")
    done: int
    rejected: int
    merged: int = Field(
        default=0, description="Per-report orders closed as merged into an incident order: neither open nor overdue."
    )
    incident_orders: int = Field(
        default=0, description="Of the issued, incident orders: one per incident and assignee, with their own SLA."
    )
    done_on_time: int
    sla_compliance_pct: float | None = Field(
        description="Done by the due date, of the orders whose SLA is decided (done, or open and overdue)."
    )
    median_completion_hours: float | None


class SummaryOut(Scoped):
    """Work orders are not in it: their SLA figures read every order of the period (`/workorders` has a total)."""

    calls: CallSummary
    reports: ReportSummary
    incidents: int


class SeriesPoint(BaseModel):
    start: dt.datetime = Field(description="Start of the period (UTC).")
    label: str = Field(description="The period as people read it, in local time.")
    calls: int
    answered: int
    answered_at_once: int
    abandoned: int
    outside_opening_hours: int
    avg_handle_seconds: float | None
    reports: int
    workorders: int
    incidents: int


class SeriesOut(Scoped):
    grain: Grain
    points: list[SeriesPoint] = Field(
        description="Every period of the range in order; with grain `hour`, only the hours that have a figure."
    )


class HourOut(BaseModel):
    hour: int = Field(ge=0, le=23, description="Local hour of the day.")
    calls: int
    outside_opening_hours: int
    reports: int


class HoursOut(Scoped):
    hours: list[HourOut] = Field(description="The 24 hours of the day, 0 to 23, summed over the period.")


class ReportGroup(BaseModel):
    key: str
    category: str | None = Field(default=None, description="With `by=category_district`: the category.")
    district: str | None = Field(default=None, description="With `by=category_district`: the district.")
    reports: int
    share_pct: float | None


class ReportsOut(Scoped):
    by: ReportGrouping
    total: int
    rows: list[ReportGroup]


class WorkOrderGroup(WorkOrderNumbers):
    key: str
    assignee: str | None
    category: str | None


class WorkOrdersOut(Scoped):
    by: WorkOrderGrouping
    as_of: dt.date
    total: WorkOrderNumbers
    rows: list[WorkOrderGroup]


class NoticeSavedOut(BaseModel):
    """What the notice saved (docs/statistics.md): the pre-notice call rate projected over the window, minus the
    calls that came; the interval from the Poisson uncertainty of both counts."""

    text: str = Field(description="'about N calls fewer than expected (95 % interval L to H)'.")
    calls_fewer: float | None = Field(
        description="Expected minus came (negative: more calls than expected); null without a call in the hour before."
    )
    low: float | None = Field(description="Lower end of the 95 % interval of calls_fewer.")
    high: float | None = Field(description="Upper end of the 95 % interval of calls_fewer.")
    expected_calls: float | None
    calls_after: int = Field(description="Calls about the incident in the window after the notice.")
    calls_before: int = Field(description="Calls about the incident in the hour of opening before the notice.")
    hours_before: float
    hours_after: float
    before_from: dt.datetime | None = Field(description="Start of the hour before (opening hours only).")
    window_to: dt.datetime | None = Field(description="End of the window after the notice (opening hours only).")
    provisional: bool = Field(description="The window has not ended yet: calls may still come.")


class IncidentOut(BaseModel):
    incident_id: str
    category: str
    waste_fraction: str | None
    district: str
    street: str | None
    first_seen_at: dt.datetime | None
    detected_at: dt.datetime = Field(description="The alert: when the spike was detected.")
    resolved_at: dt.datetime | None
    broadcast_at: dt.datetime | None = Field(
        description="When the communication team's first notice went out (IncidentBroadcast); null before."
    )
    calls_in_window: int | None
    reports_in_window: int | None
    total_calls: int | None
    total_reports: int | None
    notice_saved: NoticeSavedOut | None = Field(None, description="What the notice saved; null without a broadcast.")


class IncidentsOut(Scoped):
    incidents: list[IncidentOut]


class TimelineBucketOut(BaseModel):
    start: dt.datetime = Field(description="Start of the 15 minutes (UTC).")
    minutes_from_alert: int
    calls: int
    reports: int


class TimelineOut(BaseModel):
    incident: IncidentOut
    step_minutes: int
    alert_at: dt.datetime
    broadcast_at: dt.datetime | None
    resolved_at: dt.datetime | None
    buckets: list[TimelineBucketOut] = Field(
        description="Calls about the incident's category in its district, and its reports, per step; aligned on the alert."
    )


class CompareRow(BaseModel):
    key: str = Field(description="The figure (`calls`, `sla_compliance_pct`, ...), category code or district.")
    name: str | None = Field(default=None, description="The category's Dutch name (with `by=category`).")
    now: float | None = Field(description="In the period (null: not defined, e.g. a rate without calls).")
    before: float | None = Field(description="In the same period a year before.")
    change: float | None = Field(description="now - before; for a `_pct` figure in percentage points.")
    change_pct: float | None = Field(
        description="The change relative to before, in percent (null for a rate or from 0)."
    )


class CompareOut(Scoped):
    previous: PeriodOut = Field(description="The same period a year before (29 February -> 28 February).")
    by: Comparison
    rows: list[CompareRow]


class NamedCode(BaseModel):
    code: str
    name: str


class MetaOut(BaseModel):
    timezone: str
    today: dt.date
    years: list[int] = Field(description="Years that have figures, oldest first.")
    districts: list[str] = Field(description="Districts that have figures.")
    categories: list[NamedCode] = Field(description="Report categories: those with figures, with their names.")
    assignees: list[NamedCode]
