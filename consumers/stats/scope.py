"""The filters of the statistics API (a district, a category) as conditions on each fact table.

Used by `consumers.stats.queries`, which runs every statement; a scope only says which rows match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from consumers.stats.tables import StatCall, StatIncident, StatReport, StatWorkOrder


@dataclass(frozen=True)
class Scope:
    """A district and/or a category; calls count for a category through their subjects (`call_subjects`)."""

    district: str | None = None
    category: str | None = None
    call_subjects: frozenset[str] = frozenset()

    @property
    def filtered(self) -> bool:
        return self.district is not None or self.category is not None

    def conditions(
        self, district: Callable[[str], ColumnElement[bool]], category: Callable[[str], ColumnElement[bool]]
    ) -> list[ColumnElement[bool]]:
        """The scope on one fact table: how that table matches a district, and a category."""
        out: list[ColumnElement[bool]] = []
        if self.district is not None:
            out.append(district(self.district))
        if self.category is not None:
            out.append(category(self.category))
        return out

    def calls(self) -> list[ColumnElement[bool]]:
        c = StatCall.__table__.c
        return self.conditions(lambda d: c.district == d, lambda _: c.subject.in_(sorted(self.call_subjects)))

    def reports(self) -> list[ColumnElement[bool]]:
        c = StatReport.__table__.c
        return self.conditions(lambda d: c.district == d, lambda k: c.category == k)

    def workorders(self) -> list[ColumnElement[bool]]:
        c = StatWorkOrder.__table__.c
        r = StatReport.__table__.c
        # A work order has no district of its own: it is where its report is.
        return self.conditions(
            lambda d: c.report_id.in_(select(r.report_id).where(r.district == d)), lambda k: c.category == k
        )

    def incidents(self) -> list[ColumnElement[bool]]:
        c = StatIncident.__table__.c
        return self.conditions(lambda d: c.district == d, lambda k: c.category == k)


EVERYTHING = Scope()
