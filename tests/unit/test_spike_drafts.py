"""Broadcast drafts and the SpikeDetected / SpikeResolved messages built from an incident."""

from __future__ import annotations

import copy
import datetime as dt
import string
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from consumers.domain.catalogue import Catalogue
from consumers.spikes.config import DEFAULT_PATH, TEMPLATE_FIELDS, SpikeConfig, SpikeConfigError, load_spike_config
from consumers.spikes.drafts import (
    build_spike_detected,
    build_spike_resolved,
    dominant_fraction,
    render_drafts,
)
from consumers.spikes.groups import Scope
from consumers.spikes.lifecycle import Incident
from contracts.spikes import SpikeDetected, SpikeResolved
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
WASTE = "waste.missed_collection"
CATALOGUE_PATHS = (CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
CATALOGUE = Catalogue.load(*CATALOGUE_PATHS)


@pytest.fixture(scope="module")
def config() -> SpikeConfig:
    return load_spike_config()


def incident(**changes: Any) -> Incident:
    base = Incident(
        incident_id="inc-waste.missed_collection-brustem-2021-03-15T0900",
        incident_key="waste.missed_collection|district:Brustem",
        category=WASTE,
        district="Brustem",
        street=None,
        scope=Scope.DISTRICT,
        scope_streets=(),
        affected_streets=("Stapelstraat", "Kerkstraat"),
        onset=dt.datetime(2021, 3, 15, 9, 0, tzinfo=TZ),
        detected_at=dt.datetime(2021, 3, 15, 9, 40, tzinfo=TZ),
        last_spike_at=dt.datetime(2021, 3, 15, 9, 40, tzinfo=TZ),
        last_active_at=dt.datetime(2021, 3, 15, 9, 45, tzinfo=TZ),
        at=dt.datetime(2021, 3, 15, 9, 40, tzinfo=TZ),
        window_minutes=120,
        observed=9,
        calls_in_window=6,
        reports_in_window=5,
        expected=0.4,
        p_value=1.2e-9,
        total_calls=6,
        total_reports=5,
        total_observed=9,
    )
    return Incident(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **changes})


# --------------------------------------------------------------------------------------------------
# Rendering


def test_the_missed_collection_draft_reads_as_the_city_would_write_it(config: SpikeConfig) -> None:
    drafts = render_drafts(config, category=WASTE, district="Brustem", fraction="residual", assignees=["waste_company"])
    assert drafts.nl == "Het restafval in Brustem werd vandaag niet opgehaald. De afvalintercommunale is verwittigd."
    assert drafts.en == "Residual waste in Brustem was not collected today. The waste company has been informed."


def test_named_streets_take_the_street_template_and_the_dutch_article(config: SpikeConfig) -> None:
    drafts = render_drafts(
        config,
        category="lighting.defect",
        district="Sint-Truiden",
        streets=["Stapelstraat", "Luikerstraat", "Grote Markt"],
        assignees=["grid_operator"],
    )
    assert drafts.nl == (
        "De straatverlichting in de Stapelstraat, de Luikerstraat en de Grote Markt (Sint-Truiden) is uitgevallen. "
        "De netbeheerder is verwittigd."
    )
    assert drafts.en == (
        "Street lighting in Stapelstraat, Luikerstraat and Grote Markt (Sint-Truiden) is out. "
        "The grid operator has been informed."
    )


def test_the_french_drafts_name_streets_with_their_article_and_agree_with_the_number(config: SpikeConfig) -> None:
    one = render_drafts(config, category=WASTE, district="Brustem", fraction="residual", assignees=["waste_company"])
    assert one.fr == (
        "La collecte de déchets résiduels n'a pas eu lieu aujourd'hui à Brustem. "
        "L'intercommunale des déchets est au courant."
    )
    streets = render_drafts(
        config,
        category="lighting.defect",
        district="Sint-Truiden",
        streets=["Stapelstraat", "Luikerstraat"],
        assignees=["grid_operator", "technische_dienst"],
    )
    assert streets.fr == (
        "L'éclairage public est en panne dans la Stapelstraat et la Luikerstraat (Sint-Truiden). "
        "Le gestionnaire de réseau et le service technique sont au courant."
    )


def test_a_category_without_french_templates_has_no_french_draft(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    for entry in raw["categories"].values():
        if entry.get("templates"):
            entry["templates"].pop("district_fr", None)
            entry["templates"].pop("street_fr", None)
    for names in raw["assignees"].values():
        names.pop("fr")
    path = tmp_path / "spikes.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    drafts = render_drafts(load_spike_config(path), category=WASTE, district="Velm")
    assert drafts.fr is None
    assert drafts.nl.startswith("Het afval in Velm")
    only_one = copy.deepcopy(raw)
    only_one["categories"]["default"]["templates"]["district_fr"] = "À {district}."
    path.write_text(yaml.safe_dump(only_one, allow_unicode=True))
    with pytest.raises(SpikeConfigError, match="both French templates"):
        load_spike_config(path)


def test_several_assignees_agree_with_the_verb(config: SpikeConfig) -> None:
    drafts = render_drafts(
        config, category="sewer.blocked", district="Velm", assignees=["technische_dienst", "milieudienst"]
    )
    assert drafts.nl.endswith("De technische dienst en de milieudienst zijn verwittigd.")
    assert drafts.en.endswith("The technical service and the environmental service have been informed.")


def test_unknown_fraction_assignee_and_category_fall_back_gracefully(config: SpikeConfig) -> None:
    drafts = render_drafts(config, category=WASTE, district="Duras", fraction="textile", assignees=["someone_new"])
    assert drafts.nl == "Het afval in Duras werd vandaag niet opgehaald. De bevoegde dienst is verwittigd."
    nothing = render_drafts(config, category=WASTE, district="Duras")
    assert nothing.nl == drafts.nl
    new = render_drafts(config, category="water.flooding", district="Kerkom")
    assert new.nl == "In Kerkom kwamen veel meldingen binnen over dit probleem. De bevoegde dienst is verwittigd."
    assert new.en == "Many reports came in about this problem in Kerkom. The responsible service has been informed."


@pytest.mark.parametrize("category", [*sorted(CATALOGUE.categories), "some.unknown_code"])
def test_every_category_renders_both_templates_in_both_languages(config: SpikeConfig, category: str) -> None:
    for streets in ((), ("Kerkstraat",), ("Kerkstraat", "Molenweg")):
        drafts = render_drafts(
            config,
            category=category,
            district="Duras",
            streets=streets,
            fraction="pmd",
            assignees=["technische_dienst"],
        )
        assert drafts.fr is not None, f"{category} has no French template"
        for text in (drafts.nl, drafts.en, drafts.fr):
            assert "{" not in text
            assert "}" not in text
            assert "Duras" in text
            assert text[0].isupper()
            if config.for_category(category).street_level:  # else the problem is not in the streets
                assert all(s in text for s in streets)


def test_every_assignee_and_fraction_of_the_catalogue_has_a_draft_name(config: SpikeConfig) -> None:
    assert set(CATALOGUE.assignees) <= set(config.assignees)
    assert set(config.assignees) <= set(CATALOGUE.assignees)  # no stale codes either
    for code in ("residual", "pmd", "paper", "organic", "glass"):
        assert code in config.fractions
    # The default assignees of every category read well in its draft.
    for category in CATALOGUE.categories.values():
        drafts = render_drafts(config, category=category.code, district="Velm", assignees=category.default_assignees)
        assert "bevoegde dienst" not in drafts.nl, category.code


def test_dominant_fraction_is_the_most_named_and_stable_on_ties() -> None:
    assert dominant_fraction(["residual", None, "pmd", "residual"]) == "residual"
    assert dominant_fraction(["pmd", "glass"]) == "glass"  # a tie: alphabetical, so replicas agree
    assert dominant_fraction([None, ""]) is None
    assert dominant_fraction([]) is None


# --------------------------------------------------------------------------------------------------
# Messages


def test_spike_detected_is_a_valid_contract_without_personal_data(config: SpikeConfig) -> None:
    message = build_spike_detected(
        incident(),
        config,
        update=False,
        fraction="residual",
        assignees=["waste_company", "waste_company"],
        sample_report_ids=[f"rep-2021-{i:06d}" for i in range(15)],
    )
    again = SpikeDetected.model_validate_json(message.model_dump_json())
    assert again == message
    assert message.incident_id == "inc-waste.missed_collection-brustem-2021-03-15T0900"
    assert message.incident_key == "waste.missed_collection|district:Brustem"
    assert message.waste_fraction == "residual"
    assert (message.calls_in_window, message.reports_in_window, message.baseline) == (6, 5, 0.4)
    assert message.first_seen_at == incident().onset  # without exact times, the first bucket stands in
    assert message.affected_streets == ["Stapelstraat", "Kerkstraat"]
    assert len(message.sample_report_ids) == 10
    assert message.assignees_notified == ["waste_company"]
    assert message.draft_nl.startswith("Het restafval in Brustem")
    assert not message.update
    for private in ("An Peeters", "+32", "@"):
        assert private not in message.model_dump_json()


def test_a_street_incident_is_drafted_for_its_street(config: SpikeConfig) -> None:
    street = incident(
        category="lighting.defect",
        street="Kerkstraat",
        scope=Scope.STREET,
        scope_streets=("Kerkstraat",),
        incident_key="lighting.defect|district:Brustem",
    )
    first = dt.datetime(2021, 11, 8, 18, 3, tzinfo=TZ)
    message = build_spike_detected(
        street, config, update=True, assignees=["grid_operator"], first_seen_at=first, affected_streets=["Kerkstraat"]
    )
    assert message.street == "Kerkstraat"
    assert message.update
    assert message.first_seen_at == first
    assert (
        message.draft_nl
        == "De straatverlichting in de Kerkstraat (Brustem) is uitgevallen. De netbeheerder is verwittigd."
    )


def test_spike_resolved_carries_the_totals_and_needs_a_resolution(config: SpikeConfig) -> None:
    with pytest.raises(ValueError, match="not resolved"):
        build_spike_resolved(incident())
    done = incident(resolved_at=dt.datetime(2021, 3, 15, 12, 40, tzinfo=TZ))
    message = build_spike_resolved(done)
    assert SpikeResolved.model_validate_json(message.model_dump_json()) == message
    assert (message.total_calls, message.total_reports) == (6, 5)
    assert message.resolved_at == done.resolved_at
    assert message.detected_at == done.detected_at


# --------------------------------------------------------------------------------------------------
# Templates in the configuration


def raw_config() -> dict[str, Any]:
    loaded = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_every_template_uses_only_known_placeholders() -> None:
    raw = raw_config()
    for code, entry in raw["categories"].items():
        for name, text in (entry.get("templates") or {}).items():
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            assert fields <= TEMPLATE_FIELDS, (code, name, fields - TEMPLATE_FIELDS)


def test_an_unknown_placeholder_is_refused_at_load(tmp_path: Path) -> None:
    raw = copy.deepcopy(raw_config())
    raw["categories"][WASTE]["templates"]["district_nl"] = "Het {fractie} in {district} is niet opgehaald."
    path = tmp_path / "spikes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpikeConfigError, match=r"unknown placeholder \{fractie\}"):
        load_spike_config(path)


def test_a_format_spec_in_a_template_is_refused() -> None:
    raw = copy.deepcopy(raw_config())
    raw["categories"][WASTE]["templates"]["district_en"] = "{district!r} had no collection."
    with pytest.raises(SpikeConfigError, match="no format spec"):
        SpikeConfig.from_dict(raw)
