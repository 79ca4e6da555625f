"""Broadcast drafts for the communication team, and the `SpikeDetected` / `SpikeResolved` messages.

A draft is a starting point the team edits before posting, so it favours correct, plain sentences:
names of fractions and assignees come from `spikes.yaml` as the city writes them, Dutch verbs agree
with the number of assignees ("is" / "zijn verwittigd"), and street lists take the Dutch article
("in de Stapelstraat en de Kerkstraat"). No personal data reaches a draft: only category, district,
streets, fraction and assignee names.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consumers.spikes.config import Names, SpikeConfig
from consumers.spikes.lifecycle import Incident
from contracts.spikes import SpikeDetected, SpikeResolved

MAX_SAMPLE_REPORT_IDS = 10
_ARTICLES = ("De ", "Het ", "The ", "Le ", "La ", "Les ", "L'")


@dataclass(frozen=True, slots=True)
class Drafts:
    nl: str
    en: str
    # None when the category has no French templates (spikes.yaml: district_fr, street_fr).
    fr: str | None = None

    def get(self, lang: str) -> str | None:
        return {"nl": self.nl, "en": self.en, "fr": self.fr}.get(lang)


def dominant_fraction(fractions: Iterable[str | None]) -> str | None:
    """The fraction most reports of an incident name (ties: alphabetical, so replicas agree); None if none does."""
    counts = Counter(f for f in fractions if f)
    if not counts:
        return None
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0]


def join_nl(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} en {items[-1]}"


def join_en(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def join_fr(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} et {items[-1]}"


def _mid_sentence(name: str) -> str:
    # "De milieudienst" leads a sentence, but reads "de milieudienst" after "en".
    return name[0].lower() + name[1:] if name.startswith(_ARTICLES) else name


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def assignee_names(config: SpikeConfig, assignees: Sequence[str]) -> list[Names]:
    """Draft names of the assignees (codes), unknown codes named by the fallback, each name once."""
    names: list[Names] = []
    for code in assignees:
        name = config.assignees.get(code, config.assignee_fallback)
        if name not in names:
            names.append(name)
    return names or [config.assignee_fallback]


def render_drafts(
    config: SpikeConfig,
    *,
    category: str,
    district: str,
    streets: Sequence[str] = (),
    fraction: str | None = None,
    assignees: Sequence[str] = (),
) -> Drafts:
    """Dutch, English and (when the category has its templates) French drafts from the category's templates: the
    street template when streets are named."""
    settings = config.for_category(category)
    fraction_names = config.fractions.get(fraction, config.fraction_fallback) if fraction else config.fraction_fallback
    names = assignee_names(config, assignees)
    plural = len(names) > 1
    values = {
        "district": district,
        "street": streets[0] if streets else "",
        "streets_nl": join_nl([f"de {s}" for s in streets]) if streets else "",
        "streets_en": join_en(list(streets)) if streets else "",
        "fraction_nl": fraction_names.nl,
        "fraction_en": fraction_names.en,
        "assignee_nl": join_nl([names[0].nl] + [_mid_sentence(n.nl) for n in names[1:]]),
        "assignee_en": join_en([names[0].en] + [_mid_sentence(n.en) for n in names[1:]]),
        "informed_nl": "zijn verwittigd" if plural else "is verwittigd",
        "informed_en": "have been informed" if plural else "has been informed",
        "category_nl": settings.label.nl,
        "category_en": settings.label.en,
        # Street names stay Dutch; Belgian French gives them the article "la" ("dans la Stapelstraat").
        "streets_fr": join_fr([f"la {s}" for s in streets]) if streets else "",
        "fraction_fr": fraction_names.french,
        "assignee_fr": join_fr([names[0].french] + [_mid_sentence(n.french) for n in names[1:]]),
        # "est au courant" agrees with no gender, where "a été prévenu(e)" would.
        "informed_fr": "sont au courant" if plural else "est au courant",
        "category_fr": settings.label.french,
    }
    t = settings.templates
    nl, en = (t.street_nl, t.street_en) if streets else (t.district_nl, t.district_en)
    fr = t.street_fr if streets else t.district_fr
    return Drafts(
        nl=_capitalise(nl.format_map(values)),
        en=_capitalise(en.format_map(values)),
        fr=None if fr is None else _capitalise(fr.format_map(values)),
    )


def build_spike_detected(
    incident: Incident,
    config: SpikeConfig,
    *,
    update: bool,
    fraction: str | None = None,
    assignees: Sequence[str] = (),
    sample_report_ids: Sequence[str] = (),
    first_seen_at: dt.datetime | None = None,
    last_seen_at: dt.datetime | None = None,
    affected_streets: Sequence[str] | None = None,
) -> SpikeDetected:
    """The message for a `Fire` (update=False) or an `Update` (update=True).

    The consumer knows what the counts do not: the fraction the reports name, the assignees that got
    work orders, sample report ids, exact first/last event times, and every street named in the
    window (the book only knows the streets whose keys were judged). Without them, the bounds of the
    incident's buckets and the book's streets stand in.
    """
    drafts = render_drafts(
        config,
        category=incident.category,
        district=incident.district,
        streets=incident.scope_streets,
        fraction=fraction,
        assignees=assignees,
    )
    return SpikeDetected(
        incident_id=incident.incident_id,
        incident_key=incident.incident_key,
        category=incident.category,
        waste_fraction=fraction,
        district=incident.district,
        street=incident.street,
        window_minutes=incident.window_minutes,
        calls_in_window=incident.calls_in_window,
        reports_in_window=incident.reports_in_window,
        baseline=incident.expected,
        p_value=min(1.0, max(0.0, incident.p_value)),
        first_seen_at=first_seen_at or incident.onset,
        last_seen_at=last_seen_at or incident.last_active_at,
        detected_at=incident.detected_at,
        affected_streets=list(incident.affected_streets if affected_streets is None else affected_streets),
        sample_report_ids=list(sample_report_ids)[:MAX_SAMPLE_REPORT_IDS],
        assignees_notified=list(dict.fromkeys(assignees)),
        draft_nl=drafts.nl,
        draft_en=drafts.en,
        update=update,
    )


def build_spike_resolved(incident: Incident) -> SpikeResolved:
    """The message for a `Resolve`."""
    if incident.resolved_at is None:
        raise ValueError(f"incident {incident.incident_id} is not resolved")
    return SpikeResolved(
        incident_id=incident.incident_id,
        incident_key=incident.incident_key,
        category=incident.category,
        district=incident.district,
        street=incident.street,
        detected_at=incident.detected_at,
        resolved_at=incident.resolved_at,
        total_calls=incident.total_calls,
        total_reports=incident.total_reports,
    )
