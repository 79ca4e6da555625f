"""A stored report as the message it came in (what rebuilding a work order from the database needs)."""

from __future__ import annotations

from consumers.router.tables import Report
from contracts import ReportFiled
from infra.clock import aware


def report_filed(report: Report) -> ReportFiled:
    """The `ReportFiled` a stored report was routed from (its place completed, as the router stored it)."""
    contact = None
    if report.reporter_name or report.reporter_phone or report.reporter_email:
        contact = {"name": report.reporter_name, "phone": report.reporter_phone, "email": report.reporter_email}
    return ReportFiled.model_validate(
        {
            "report_id": report.report_id,
            "filed_at": aware(report.filed_at),
            "channel": report.channel,
            "category": report.category,
            "waste_fraction": report.waste_fraction,
            "location": {
                "street": report.street,
                "house_number": report.house_number,
                "postcode": report.postcode,
                "district": report.district,
                "lat": report.lat,
                "lon": report.lon,
            },
            "description": report.description,
            "reporter": contact,
            "call_id": report.call_id,
        }
    )
