"""One run's random choices: which call, report, place, reporter and incident traffic at each slot."""

from __future__ import annotations

import datetime as dt
import math
import random

from consumers.domain.calendar import CityCalendar
from contracts import (
    CallOutcome,
    CallTopic,
    ReportChannel,
    ReporterContact,
)
from hub.simulator.profile import IncidentKind, TrafficProfile
from hub.simulator.slots import (
    PlannedCall,
    PlannedIncident,
    PlannedReport,
    Slot,
    Weighted,
    epoch_seconds,
    local_midnight,
)


class Generator:
    """One run's state: the profile's precomputed choices and the random stream."""

    def __init__(self, profile: TrafficProfile, calendar: CityCalendar, rng: random.Random) -> None:
        self.profile = profile
        self.calendar = calendar
        self.rng = rng
        reports = profile.reports
        self.topic = Weighted({t: p.weight for t, p in profile.topics.items()})
        self.subject = {t: Weighted(p.subjects) for t, p in profile.topics.items() if p.subjects}
        self.outcome = {t: Weighted(p.outcomes) for t, p in profile.topics.items()}
        self.category = Weighted({c: p.weight for c, p in reports.categories.items()})
        self.fraction = Weighted({f: p.weight for f, p in reports.waste_fractions.items()})
        self.online_channel = Weighted(reports.online_channels)
        # Someone reporting a dark street or a fallen tree right now uses the app or the web form, not e-mail.
        urgent = {c: w for c, w in reports.online_channels.items() if c in (ReportChannel.WEB, ReportChannel.APP)}
        self.incident_channel = Weighted(urgent) if any(w > 0 for w in urgent.values()) else self.online_channel
        self.district = Weighted(profile.district_weight_map())

    # -- calls

    def handle_time(self, topic: CallTopic) -> int:
        spec = self.profile.topics[topic].handle_time
        low, high = self.profile.handle_time_bounds_s
        return int(min(high, max(low, self.rng.lognormvariate(math.log(spec.median_s), spec.sigma))))

    def background_call(self, slot: Slot) -> PlannedCall:
        rng = self.rng
        topic = self.topic.pick(rng)
        outcome = self.outcome[topic].pick(rng)
        subject = self.category.pick(rng) if topic is CallTopic.REPORT else self.subject[topic].pick(rng)
        abandoned = outcome is CallOutcome.ABANDONED
        duration = 0 if abandoned else min(self.handle_time(topic), slot.close - slot.open - 2)
        # The call must end before closing time: the telephony system logs it while the centre is open.
        # Near closing time that pulls a long call's start a little earlier, as real agents would not
        # take a half-hour call at 15:59 either.
        latest = min(slot.end - 1, slot.close - duration - 1)
        started = rng.randint(slot.start, latest) if latest >= slot.start else max(slot.open, latest)
        noted = topic is CallTopic.REPORT or rng.random() < self.profile.district_noted_share
        call = PlannedCall(
            started=started,
            duration=duration,
            topic=topic,
            subject=subject,
            outcome=outcome,
            district=self.district.pick(rng) if noted else None,
            agent=None if abandoned else rng.randint(1, self.profile.agents),
        )
        if outcome is CallOutcome.REPORT_FILED:
            assert call.district is not None
            call.report = self.report(
                filed=self.filed_during(call),
                channel=ReportChannel.PHONE,
                category=subject,
                district=call.district,
            )
            call.report.call = call
        return call

    def filed_during(self, call: PlannedCall) -> int:
        # The agent files the report in the reporting system during the call, after hearing the problem.
        return call.started + max(1, int(call.duration * self.rng.uniform(0.35, 0.9)))

    # -- reports

    def report(
        self,
        *,
        filed: int,
        channel: ReportChannel,
        category: str,
        district: str,
        streets: tuple[str, ...] | None = None,
        fraction: str | None = None,
        templates: list[str] | None = None,
    ) -> PlannedReport:
        rng, profile = self.rng, self.profile
        spec = profile.reports.categories[category]
        if spec.waste_fraction and fraction is None:
            fraction = self.fraction.pick(rng)
        street = rng.choice(streets or profile.districts[district].streets)
        house_number: str | None = None
        if rng.random() < profile.reports.house_number_share:
            house_number = str(rng.randint(1, 160)) + ("A" if rng.random() < 0.08 else "")
        options = templates or spec.templates
        if house_number is None:
            # A template that names a house number needs one; prefer those that do not.
            options = [t for t in options if "{house_number}" not in t] or options
        template = rng.choice(options)
        if house_number is None and "{house_number}" in template:
            house_number = str(rng.randint(1, 160))
        fraction_nl = profile.reports.waste_fractions[fraction].nl if fraction else "afval"
        description = template.format(
            street=street, district=district, fraction_nl=fraction_nl, house_number=house_number
        )
        return PlannedReport(
            filed=filed,
            channel=channel,
            category=category,
            fraction=fraction,
            district=district,
            postcode=profile.districts[district].postcode,
            street=street,
            house_number=house_number,
            description=description[:1].upper() + description[1:],
            reporter=self.reporter(channel),
        )

    def reporter(self, channel: ReportChannel) -> ReporterContact | None:
        rng, spec = self.rng, self.profile.reporters
        if rng.random() >= self.profile.reports.contact_share.get(channel, 0.0):
            return None
        first, last = rng.choice(spec.first_names), rng.choice(spec.last_names)
        phone = f"{spec.phone_prefix} {rng.randint(10, 99)} {rng.randint(10, 99)}"
        email = f"{first}.{last}{rng.randint(1, 99)}@{spec.email_domain}".lower()
        # Web forms and the app know the e-mail address; agents on the phone note the phone number first.
        by_phone = channel is ReportChannel.PHONE
        return ReporterContact(
            name=f"{first} {last}",
            phone=phone if by_phone or rng.random() < 0.5 else None,
            email=email if not by_phone or rng.random() < 0.4 else None,
        )

    def online_report(self, slot: Slot) -> PlannedReport:
        district = self.district.pick(self.rng)
        return self.report(
            filed=self.rng.randint(slot.start, slot.end - 1),
            channel=self.online_channel.pick(self.rng),
            category=self.category.pick(self.rng),
            district=district,
        )

    # -- incidents

    def kinds_for(self, count: int) -> list[str]:
        """`count` incident kinds in proportion to their weights (largest remainder), in random order.

        Proportional rather than drawn: a benchmark year of twelve incidents should contain every spike-prone
        kind, not, by bad luck, one missed collection and eleven fallen trees.
        """
        kinds = self.profile.incidents.kinds
        total = sum(kind.weight for kind in kinds.values())
        quotas = {name: count * kind.weight / total for name, kind in kinds.items()}
        chosen = {name: int(quota) for name, quota in quotas.items()}
        by_remainder = sorted(quotas, key=lambda name: (-(quotas[name] - chosen[name]), name))
        for name in by_remainder[: count - sum(chosen.values())]:
            chosen[name] += 1
        names = [name for name in kinds for _ in range(chosen[name])]
        self.rng.shuffle(names)
        return names

    def incident_start(self, spec: IncidentKind, day: dt.date) -> int | None:
        """When an incident of this kind starts on `day`, or None if the kind cannot happen that day."""
        rng, calendar, tz = self.rng, self.calendar, self.calendar.tz
        if rng.random() < spec.while_open_share:
            if not calendar.is_open_day(day):
                return None
            # Somewhere in the opening hours, at least half an hour before closing so callers can still call.
            open_at, close_at = calendar.opening_hours[day.weekday()]
            first = epoch_seconds(dt.datetime.combine(day, open_at, tzinfo=tz))
            last = epoch_seconds(dt.datetime.combine(day, close_at, tzinfo=tz)) - 1800
            return rng.randint(first, max(first, last))
        if (spec.days == "working" and not calendar.is_working_day(day)) or (
            spec.days == "open" and not calendar.is_open_day(day)
        ):
            return None
        local = dt.datetime.combine(day, dt.time(rng.randint(*spec.start_hours), rng.randrange(60)), tzinfo=tz)
        # Normalised through UTC: a start hour in the DST gap (02:xx on the last Sunday of March) moves on.
        return epoch_seconds(local)

    def plan_incident(
        self, name: str, start: dt.date, days: int, taken: set[tuple[str, str, dt.date]]
    ) -> PlannedIncident | None:
        """Pick day, time and place of one incident; None if nothing fits in the range after some tries."""
        rng, tz = self.rng, self.calendar.tz
        spec = self.profile.incidents.kinds[name]
        range_end = epoch_seconds(local_midnight(start + dt.timedelta(days=days), tz))
        for _ in range(200):
            day = start + dt.timedelta(days=rng.randrange(days))
            district = self.district.pick(rng)
            if (spec.category, district, day) in taken:
                continue
            started = self.incident_start(spec, day)
            if started is None:
                continue
            burst = int(rng.uniform(*spec.burst_minutes) * 60)
            tail = int(rng.uniform(*spec.tail_minutes) * 60)
            if started + burst + tail >= range_end:
                continue
            streets_all = self.profile.districts[district].streets
            count = min(len(streets_all), rng.randint(*spec.streets))
            taken.add((spec.category, district, day))
            return PlannedIncident(
                kind=name,
                spec=spec,
                district=district,
                streets=tuple(sorted(rng.sample(streets_all, count))),
                fraction=self.fraction.pick(rng) if spec.waste_fraction else None,
                started=started,
                burst_end=started + burst,
                broadcast=started + burst if rng.random() < spec.broadcast_share else None,
                ended=started + burst + tail,
            )
        return None

    def incident_traffic(self, incident: PlannedIncident, open_hours: dict[dt.date, tuple[int, int]]) -> None:
        """Fill the incident with its calls and reports. A caller who finds the centre closed uses web/app."""
        rng, spec, tz = self.rng, incident.spec, self.calendar.tz
        planned_calls = rng.randint(*spec.calls)
        contacts = planned_calls + rng.randint(*spec.online_reports)
        for index in range(contacts):
            moment = incident.started + self.incident_offset(incident)
            after_broadcast = incident.broadcast is not None and moment >= incident.broadcast
            if index < planned_calls:
                duration = self.handle_time(CallTopic.REPORT)
                hours = open_hours.get(dt.datetime.fromtimestamp(moment, tz).date())
                if hours is not None and hours[0] <= moment and moment + duration < hours[1]:
                    self.incident_call(incident, moment, duration, after_broadcast)
                    continue
            incident.reports.append(self.incident_report(incident, moment, self.incident_channel.pick(rng)))

    def incident_offset(self, incident: PlannedIncident) -> int:
        rng = self.rng
        burst = incident.burst_end - incident.started
        tail = incident.ended - incident.burst_end
        # Without a broadcast nobody tells the citizens: the burst is the same, but more contacts keep
        # trickling in for longer (a heavier, slower tail) until the problem is fixed.
        tail_share, decay = incident.spec.tail_share, 3.0
        if incident.broadcast is None:
            tail_share, decay = min(0.5, 2.5 * tail_share), 1.5
        if rng.random() < tail_share:
            offset = rng.expovariate(decay / tail)
            while offset >= tail - 1:
                offset = rng.expovariate(decay / tail)
            return burst + int(offset)
        # The burst: the word spreads fast, then everyone who notices calls or reports.
        return int(rng.triangular(0, burst - 1, burst * 0.3))

    def incident_call(self, incident: PlannedIncident, started: int, duration: int, after_broadcast: bool) -> None:
        rng, spec = self.rng, incident.spec
        # Once the broadcast is out, agents mostly confirm the problem is known rather than file a new report.
        files = rng.random() < (spec.report_filed_share * (0.4 if after_broadcast else 1.0))
        call = PlannedCall(
            started=started,
            duration=duration,
            topic=CallTopic.REPORT,
            subject=spec.category,
            outcome=CallOutcome.REPORT_FILED if files else CallOutcome.ANSWERED_AT_ONCE,
            district=incident.district,
            agent=rng.randint(1, self.profile.agents),
        )
        if files:
            call.report = self.incident_report(incident, self.filed_during(call), ReportChannel.PHONE)
            call.report.call = call
            incident.reports.append(call.report)
        incident.calls.append(call)

    def incident_report(self, incident: PlannedIncident, filed: int, channel: ReportChannel) -> PlannedReport:
        spec = incident.spec
        # Half the reporters describe it in the incident's own words, the others like any such report.
        templates = spec.templates if self.rng.random() < 0.5 else None
        return self.report(
            filed=filed,
            channel=channel,
            category=spec.category,
            district=incident.district,
            streets=incident.streets,
            fraction=incident.fraction,
            templates=templates,
        )
