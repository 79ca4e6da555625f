"""The dashboard's words: every one its script asks for is in the console's catalogue, in Dutch, English and French,
with the same {fields}; the codes the API answers with (topics, outcomes, grains) each have a name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from consumers.console import i18n
from consumers.console.accounts import LANGUAGES
from consumers.console.dashboard_http import LOCALES, client
from consumers.console.dashboard_text import TEXT
from consumers.console.reasons import REASONS, reason
from consumers.domain.catalogue import Catalogue
from consumers.spikes.config import Names
from consumers.stats.schemas import (
    MAX_DAYS,
    PERIOD_RULES,
    CompareParams,
    PeriodParams,
    SeriesParams,
    TimelineParams,
)
from contracts.calls import CallOutcome, CallTopic
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "consumers" / "stats" / "dashboard" / "app.js"
TEMPLATE = Path(__file__).resolve().parents[2] / "consumers" / "console" / "templates" / "management" / "dashboard.html"


def test_every_word_the_script_and_the_page_ask_for_is_there_in_three_languages() -> None:
    script = SCRIPT.read_text()
    asked = set(re.findall(r"""\bt\("([\w.]+)"[,)]""", script))
    asked |= {f"{prefix}{kind}" for prefix in ("per.", "grain.") for kind in ("day", "week", "month")}
    asked |= {f"reports.desc.{by}" for by in ("category", "district")} | {"category", "district"}
    page = set(re.findall(r"""t\(["']dash\.([\w.]+)["']""", TEMPLATE.read_text()))
    assert len(asked) > 60
    assert len(page) > 20
    for lang in ("nl", "en", "fr"):
        words = i18n.messages(lang, "dash")
        missing = sorted(k for k in asked | page if f"dash.{k}" not in words)
        assert not missing, (lang, missing)
    # Nothing in the catalogue that nobody asks for (dynamic keys aside), so a word is changed in one place.
    dynamic = ("topic.", "outcome.")
    unused = sorted(k for k in TEXT["nl"] if k not in asked | page and not k.startswith(dynamic))
    assert not unused, unused


def test_the_apis_topics_and_outcomes_have_names_and_the_dutch_is_dutch() -> None:
    for lang in ("nl", "en", "fr"):
        words = i18n.messages(lang, "dash")
        assert all(f"dash.topic.{topic.value}" in words for topic in CallTopic), lang
        assert all(f"dash.outcome.{outcome.value}" in words for outcome in CallOutcome), lang
    dutch = client_of("nl")
    assert dutch["locale"] == "nl-BE"
    assert dutch["messages"]["dash.title"] == "Statistiek van het ContactCenter"
    assert dutch["messages"]["dash.outcome.abandoned"] == "Opgehangen"
    # Fields are left for the script to fill in.
    assert "{answered}" in dutch["messages"]["dash.kpi.calls_sub"]
    assert client_of("en")["messages"]["dash.title"] == "Contact centre statistics"
    # Waste fractions as the drafts name them; French without a name of its own reads the Dutch.
    assert [client_of(lang)["fractions"] for lang in ("nl", "en", "fr")] == [
        {"paper": "papier en karton"},
        {"paper": "paper and cardboard"},
        {"paper": "papier en karton"},
    ]
    assert set(LOCALES) == {"nl", "en", "fr"}


def test_a_translation_with_other_fields_than_the_dutch_is_refused() -> None:
    with pytest.raises(ValueError, match=r"other \{fields\}"):
        i18n.add_languages("t-fields", {"nl": {"a": "{n} oproepen"}, "en": {"a": "{count} calls"}, "fr": {"a": "{n}"}})
    with pytest.raises(ValueError, match="other keys"):
        i18n.add_languages("t-keys", {"nl": {"a": "x"}, "en": {"b": "x"}, "fr": {"a": "x"}})


def test_the_script_names_the_categories_in_the_users_language() -> None:
    names = [client_of(lang)["categories"] for lang in ("nl", "en", "fr")]
    assert [n["waste.missed_collection"] for n in names] == [  # type: ignore[index]
        "Afval niet opgehaald",
        "Waste not collected",
        "Déchets non collectés",
    ]
    assert all(set(n) == set(CATALOGUE.categories) for n in names)  # type: ignore[arg-type]


CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")


def client_of(language: str) -> dict[str, object]:
    class Api:
        catalogue = CATALOGUE

    fractions = {"paper": Names(nl="papier en karton", en="paper and cardboard")}
    return client(Api(), language, fractions)  # type: ignore[arg-type]


# Queries the statistics refuse, one per check the hub makes: each reason is one of the hub's own, worded by type.
REFUSED: list[tuple[type[PeriodParams], dict[str, object]]] = [
    (PeriodParams, {"year": "x"}),
    (PeriodParams, {"year": 2021.5}),
    (PeriodParams, {"year": 1999}),
    (PeriodParams, {"year": 2101}),
    (PeriodParams, {"from": "15-03-2021"}),
    (PeriodParams, {"from": "2021-03-15T10:30:00"}),
    (PeriodParams, {"from": "0001-01-01"}),
    (PeriodParams, {"from": "2021-01-01", "to": "9999-12-31"}),
    (PeriodParams, {"district": ""}),
    (PeriodParams, {"district": "x" * 101}),
    (PeriodParams, {"category": "Not A Code"}),
    (PeriodParams, {"yaer": 2021}),
    (PeriodParams, {"year": 2021, "from": "2021-01-01"}),
    (PeriodParams, {"to": "2021-01-01"}),
    (PeriodParams, {"from": "2021-03-02", "to": "2021-03-01"}),
    (PeriodParams, {"from": "2010-01-01", "to": "2021-01-01"}),
    (SeriesParams, {"grain": "minute"}),
    (CompareParams, {"by": "street"}),
    (TimelineParams, {"before_minutes": 5}),
]


def test_every_reason_the_statistics_give_for_a_refused_query_is_worded_in_each_language() -> None:
    seen: set[str] = set()
    for model, query in REFUSED:
        with pytest.raises(ValidationError) as refused:
            model.model_validate(query)
        for error in refused.value.errors():
            assert error["type"] in REASONS, (query, error)
            seen.add(error["type"])
    assert set(PERIOD_RULES) <= seen
    for words in REASONS.values():
        assert {lang: bool(words.get(lang)) for lang in LANGUAGES} == dict.fromkeys(LANGUAGES, True), words
    # The page's sentence and the script's words: the reason in the user's language, the parameter named in it.
    assert reason("fr", "period_too_long", ("query",), "a range of at most 1098 days") == (
        f"une période de {MAX_DAYS} jours au plus"
    )
    assert (
        reason("nl", "int_parsing", ("query", "year"), "Input should be a valid integer") == "jaar: geen geheel getal"
    )
    assert reason("nl", "something_else", ("query", "x"), "Free text") == "x: Free text"  # not the hub's: as given
    french = client_of("fr")
    assert french["reasons"]["period_to_before_from"] == "la date de fin précède la date de début"  # type: ignore[index]
    assert french["fields"]["from"] == "du"  # type: ignore[index]
