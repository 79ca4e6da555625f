"""The incident timeline's SVG on the console: bars carry their figures, marks their moments, labels are escaped."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from consumers.console.comms_timeline import Step, timeline_svg

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
START = dt.datetime(2021, 3, 15, 8, 0, tzinfo=dt.UTC)
LABELS = {
    "title": "Tijdlijn",
    "calls": "oproepen",
    "reports": "meldingen",
    "alert": "Melding",
    "broadcast": "Bericht <geplaatst>",
    "resolved": "Opgelost",
}


def steps() -> list[Step]:
    counts = [(0, 0), (1, 0), (3, 3), (3, 4), (2, 2), (0, 1), (0, 0), (0, 0)]
    return [Step(START + i * dt.timedelta(minutes=15), c, r) for i, (c, r) in enumerate(counts)]


def test_every_step_is_a_bar_with_its_figures_and_every_mark_in_range_a_line() -> None:
    svg = timeline_svg(
        steps(),
        step_minutes=15,
        marks={
            "alert": START + dt.timedelta(minutes=40),
            "broadcast": START + dt.timedelta(minutes=75),
            "resolved": START + dt.timedelta(hours=5),  # past the chart: not drawn
        },
        labels=LABELS,
        tz=TZ,
    )
    bars = re.findall(r'data-calls="(\d+)" data-reports="(\d+)"', svg)
    assert [(int(c), int(r)) for c, r in bars] == [(s.calls, s.reports) for s in steps()]
    assert re.findall(r'data-mark="(\w+)"', svg) == ["alert", "broadcast"]
    assert "Melding 09:40" in svg  # city time
    assert "Bericht &lt;geplaatst&gt; 10:15" in svg
    assert "<geplaatst>" not in svg
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    # Two marks minutes apart keep their labels on rows of their own.
    ys = re.findall(r'<g class="mark \w+"[^>]*><line[^>]*/><text x="[\d.]+" y="(\d+)"', svg)
    assert len(set(ys)) == 2


def test_no_steps_no_chart() -> None:
    assert timeline_svg([], step_minutes=15, marks={}, labels=LABELS, tz=TZ) == ""


def test_the_pages_words_exist_in_dutch_english_and_french() -> None:
    from consumers.console.comms_text import TEXT

    assert set(TEXT) == {"nl", "en", "fr"}
    for lang in ("en", "fr"):
        assert TEXT[lang].keys() == TEXT["nl"].keys(), lang
        for key, text in TEXT[lang].items():
            assert text.strip(), (lang, key)
            # The same placeholders as the Dutch, so a translation never breaks a page.
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", TEXT["nl"][key])), (lang, key)


def test_why_an_alert_was_held_back_and_the_expectation_read_in_the_pages_language() -> None:
    from consumers.console.comms import figure, held_back
    from consumers.spikes.board import AlertEvent

    now = dt.datetime(2021, 3, 15, 9, 0, tzinfo=dt.UTC)

    def held(kind: str, reason: str) -> AlertEvent:
        return AlertEvent(now, kind, "suppressed", reason, 5, 0.5)

    inhibited = "street Ordingenstraat inhibited by district alert inc-waste.missed_collection-brustem-2026-12-04T1930"
    silenced = "silenced by sil-7f3a until 2021-03-15T12:00:00+00:00: Netbeheerder werkt aan de cabine"
    assert (
        held_back(held("suppressed-street", inhibited), "nl")
        == "straat Ordingenstraat valt al onder het alarm voor de deelgemeente"
    )
    assert (
        held_back(held("suppressed-fire", silenced), "nl") == "stilgezet (sil-7f3a): Netbeheerder werkt aan de cabine"
    )
    assert (
        held_back(held("suppressed-update", silenced), "en") == "silenced (sil-7f3a): Netbeheerder werkt aan de cabine"
    )
    quiet = held("suppressed-resolve", "went quiet without being announced (silenced throughout)")
    assert held_back(quiet, "fr") == "de nouveau calme sans annonce (en sourdine tout du long)"
    # A reason the page does not know stays as the spikes consumer wrote it.
    assert held_back(held("suppressed-update", "something new"), "nl") == "something new"
    assert [figure(x, "nl") for x in (0.03, 0.44, 2.5, 12.3)] == ["0,03", "0,4", "2,5", "12"]
    assert figure(0.06, "en") == "0.06"


def test_what_a_silence_matches_reads_in_the_pages_language_with_the_catalogues_names() -> None:
    from consumers.console.comms import CommsConsole
    from consumers.console.comms_silences import describe_scope
    from consumers.domain.catalogue import Catalogue
    from consumers.spikes.silences import Scope
    from hub.settings import CONFIG_DIR

    class Pages:
        catalogue = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")
        category_name = CommsConsole.category_name

        def describe_scope(self, scope: Scope, lang: str) -> str:
            return describe_scope(self, scope, lang)  # type: ignore[arg-type]

    pages = Pages()
    lighting = Scope("lighting.defect", "Velm", None)
    assert pages.describe_scope(lighting, "nl") == "Defecte straatverlichting, deelgemeente Velm"  # type: ignore[arg-type]
    assert pages.describe_scope(lighting, "fr") == "Éclairage public en panne, section Velm"  # type: ignore[arg-type]
    street = Scope(None, "Brustem", "Ordingenstraat")
    assert pages.describe_scope(street, "en") == "any category, district Brustem, street Ordingenstraat"  # type: ignore[arg-type]
    assert pages.describe_scope(Scope("waste.missed_collection", None, None), "fr") == (  # type: ignore[arg-type]
        "Déchets non collectés, toute section"
    )


def test_every_refusal_the_features_raise_has_words_on_the_pages() -> None:
    from pathlib import Path

    from consumers.console.refusals import TEXT

    raised = re.compile(
        r"(?:Refusal|SilenceError|DraftError|QueryRefused)\(\s*(?:f?\"[^\"]*\"|str\(exc\))\s*,\s*\"(\w+)\""
    )
    root = Path(__file__).resolve().parents[2] / "consumers"
    codes = {code for path in root.rglob("*.py") for code in raised.findall(path.read_text())}
    assert len(codes) >= 15, codes
    for lang in ("nl", "en", "fr"):
        assert codes <= TEXT[lang].keys(), (lang, sorted(codes - TEXT[lang].keys()))
