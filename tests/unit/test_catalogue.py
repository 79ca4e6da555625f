"""The category and assignee catalogues: the shipped files are valid and complete; broken files name their line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from consumers.console.accounts import LANGUAGES
from consumers.domain.catalogue import (
    ASSIGNEE_CODE,
    FALLBACK_CATEGORY,
    TRIAGE,
    Catalogue,
    CatalogueError,
)
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

CATEGORIES = CONFIG_DIR / "categories.yaml"
ASSIGNEES = CONFIG_DIR / "assignees.yaml"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CATEGORIES, ASSIGNEES)


# --- The shipped catalogue -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "assignees", "sla", "spike_prone"),
    [
        ("waste.missed_collection", ("waste_company",), 1, True),
        ("waste.illegal_dumping", ("technische_dienst", "milieudienst"), 3, False),
        ("waste.public_bin_full", ("technische_dienst",), 2, False),
        ("lighting.defect", ("grid_operator",), 5, True),
        ("road.damage", ("technische_dienst",), 10, False),
        ("sewer.blocked", ("technische_dienst",), 3, True),
        ("green.fallen_tree", ("groendienst",), 1, True),
        ("other", ("contact_center_triage",), 5, False),
    ],
)
def test_domain_categories_have_the_documented_assignees_and_sla(
    catalogue: Catalogue, code: str, assignees: tuple[str, ...], sla: int, spike_prone: bool
) -> None:
    category = catalogue.category(code)
    assert category is not None
    assert category.default_assignees == assignees
    assert category.sla_working_days == sla
    assert category.spike_prone is spike_prone
    assert category.name_nl
    assert category.name_en


def test_every_category_is_named_in_each_of_the_consoles_languages(catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        names = {"nl": category.name_nl, "en": category.name_en, "fr": category.name_fr}
        for language in LANGUAGES:
            assert names[language].strip(), (category.code, language)
            assert category.name(language) == names[language]
        assert len(set(names.values())) == len(names), names  # not the Dutch copied over


def test_catalogue_has_extra_categories_beyond_the_domain_table(catalogue: Catalogue) -> None:
    assert {"waste.recycling_park", "signage.damaged", "green.maintenance"} <= set(catalogue.categories)


def test_every_default_assignee_is_in_the_assignee_catalogue(catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        for code in category.default_assignees:
            assert catalogue.assignee(code).code == code


def test_required_assignees_exist_with_valid_queue_names(catalogue: Catalogue) -> None:
    expected = {
        "contact_center_triage",
        "technische_dienst",
        "groendienst",
        "milieudienst",
        "burgerzaken",
        "oncall",
        "waste_company",
        "grid_operator",
        "road_firm",
    }
    assert expected <= set(catalogue.assignees)
    for assignee in catalogue.assignees.values():
        assert ASSIGNEE_CODE.match(assignee.code)
        assert assignee.queue == f"workorders.{assignee.code}"
        assert assignee.ack_hours > 0


def test_contractors_may_not_see_contact_data_and_departments_may(catalogue: Catalogue) -> None:
    contractors = {a.code for a in catalogue.assignees.values() if a.is_contractor}
    assert contractors == {"waste_company", "grid_operator", "road_firm"}
    for assignee in catalogue.assignees.values():
        assert assignee.may_see_contact is (assignee.kind == "department")


def test_contractors_name_a_responsible_department(catalogue: Catalogue) -> None:
    for assignee in catalogue.assignees.values():
        if assignee.is_contractor:
            assert assignee.responsible_department is not None
            assert catalogue.assignee(assignee.responsible_department).kind == "department"


def test_channels_have_their_endpoint(catalogue: Catalogue) -> None:
    for assignee in catalogue.assignees.values():
        if assignee.channel == "webhook":
            assert assignee.webhook_url is not None
            assert assignee.webhook_url.startswith("https://")
        if assignee.channel == "email":
            assert assignee.email is not None


def test_triage_and_fallback_exist(catalogue: Catalogue) -> None:
    assert catalogue.assignee(TRIAGE).kind == "department"
    fallback = catalogue.category(FALLBACK_CATEGORY)
    assert fallback is not None
    assert fallback.default_assignees == (TRIAGE,)


def test_unknown_category_is_none_and_unknown_assignee_raises(catalogue: Catalogue) -> None:
    assert catalogue.category("no.such_category") is None
    with pytest.raises(KeyError, match="nobody"):
        catalogue.assignee("nobody")


def test_call_subjects_map_to_categories(catalogue: Catalogue) -> None:
    missed = catalogue.category_for_call_subject("missed_collection")
    assert missed is not None
    assert missed.code == "waste.missed_collection"
    # The category code itself always counts as a subject: the telephony system may log it as is.
    lighting = catalogue.category_for_call_subject("lighting.defect")
    assert lighting is not None
    assert lighting.code == "lighting.defect"
    assert catalogue.category_for_call_subject("civil_affairs") is None


def test_versions_are_read(catalogue: Catalogue) -> None:
    assert catalogue.categories_version == "2026-11-28.1"
    assert catalogue.assignees_version == "2026-11-28.1"


def test_catalogue_is_immutable(catalogue: Catalogue) -> None:
    with pytest.raises(TypeError):
        catalogue.categories["x"] = catalogue.categories["other"]  # type: ignore[index]


# --- Broken files --------------------------------------------------------------------------------------------------

GOOD_ASSIGNEES = """\
version: "1"
assignees:
  - code: contact_center_triage
    name: Triage
    kind: department
    channel: queue
    may_see_contact: true
    ack_hours: 4
  - code: waste_company
    name: Waste company
    kind: contractor
    channel: webhook
    may_see_contact: false
    ack_hours: 8
    webhook_url: https://waste.example.be/hook
    responsible_department: contact_center_triage
"""

GOOD_CATEGORIES = """\
version: "1"
categories:
  - code: other
    name_nl: Andere
    name_en: Other
    default_assignees: [contact_center_triage]
    sla_working_days: 5
    spike_prone: false
  - code: waste.missed_collection
    name_nl: Afval niet opgehaald
    name_en: Waste not collected
    default_assignees: [waste_company]
    sla_working_days: 1
    spike_prone: true
"""


def _write(tmp_path: Path, categories: str = GOOD_CATEGORIES, assignees: str = GOOD_ASSIGNEES) -> tuple[Path, Path]:
    c = tmp_path / "categories.yaml"
    a = tmp_path / "assignees.yaml"
    c.write_text(textwrap.dedent(categories), encoding="utf-8")
    a.write_text(textwrap.dedent(assignees), encoding="utf-8")
    return c, a


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`: tests name lines by content, not by counting."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def _load_error(tmp_path: Path, categories: str = GOOD_CATEGORIES, assignees: str = GOOD_ASSIGNEES) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        Catalogue.load(*_write(tmp_path, categories, assignees))
    return info.value


def test_minimal_valid_files_load(tmp_path: Path) -> None:
    catalogue = Catalogue.load(*_write(tmp_path))
    assert set(catalogue.categories) == {"other", "waste.missed_collection"}
    assert catalogue.assignee("waste_company").webhook_url == "https://waste.example.be/hook"


def test_a_category_without_a_french_name_reads_the_dutch_and_a_blank_one_is_refused(tmp_path: Path) -> None:
    category = Catalogue.load(*_write(tmp_path)).category("waste.missed_collection")
    assert category is not None
    assert [category.name(lang) for lang in ("nl", "en", "fr", "de")] == [
        "Afval niet opgehaald",
        "Waste not collected",
        "Afval niet opgehaald",
        "Afval niet opgehaald",
    ]
    blank = GOOD_CATEGORIES.replace(
        "    name_en: Waste not collected\n", "    name_en: Waste not collected\n    name_fr: ' '\n"
    )
    assert "'name_fr' must be a non-empty string" in str(_load_error(tmp_path, blank))


def test_unknown_default_assignee_names_file_and_line(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("[waste_company]", "[waste_compagny]")
    error = _load_error(tmp_path, categories=broken)
    line = _line_of(broken, "waste_compagny")
    assert f"categories.yaml:{line}:" in str(error)
    assert "unknown default assignee 'waste_compagny'" in str(error)


def test_duplicate_category_code_names_the_second_line(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("code: waste.missed_collection", "code: other")
    error = _load_error(tmp_path, categories=broken)
    assert f"categories.yaml:{_line_of(broken, 'code: other', 2)}: duplicate category code 'other'" in str(error)
    assert f"first at line {_line_of(broken, 'code: other')}" in str(error)


def test_duplicate_assignee_code(tmp_path: Path) -> None:
    broken = GOOD_ASSIGNEES.replace("code: waste_company", "code: contact_center_triage")
    error = _load_error(tmp_path, assignees=broken)
    line = _line_of(broken, "code: contact_center_triage", 2)
    assert f"assignees.yaml:{line}: duplicate assignee code 'contact_center_triage'" in str(error)


@pytest.mark.parametrize("bad", ["Waste-Company", "9waste", "waste company", "waste.company"])
def test_bad_assignee_code_pattern(tmp_path: Path, bad: str) -> None:
    broken = GOOD_ASSIGNEES.replace("code: waste_company", f"code: {bad}")
    error = _load_error(tmp_path, assignees=broken)
    assert f"assignees.yaml:{_line_of(broken, f'code: {bad}')}:" in str(error)
    assert "code must match" in str(error)


@pytest.mark.parametrize("bad", ["Waste.Missed", "waste..missed", "waste missed", ".waste"])
def test_bad_category_code_pattern(tmp_path: Path, bad: str) -> None:
    broken = GOOD_CATEGORIES.replace("code: waste.missed_collection", f'code: "{bad}"')
    error = _load_error(tmp_path, categories=broken)
    assert f"categories.yaml:{_line_of(broken, bad)}:" in str(error)
    assert "code must match" in str(error)


def test_negative_sla(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("sla_working_days: 1", "sla_working_days: -1")
    error = _load_error(tmp_path, categories=broken)
    assert f"categories.yaml:{_line_of(broken, 'sla_working_days: -1')}:" in str(error)
    assert "must not be negative" in str(error)


@pytest.mark.parametrize("bad", ["1.5", "yes", "'2'"])
def test_sla_must_be_a_whole_number(tmp_path: Path, bad: str) -> None:
    broken = GOOD_CATEGORIES.replace("sla_working_days: 1", f"sla_working_days: {bad}")
    error = _load_error(tmp_path, categories=broken)
    assert "sla_working_days must be a whole number" in str(error)


def test_missing_field_names_the_entry_line(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("    name_en: Waste not collected\n", "")
    error = _load_error(tmp_path, categories=broken)
    line = _line_of(broken, "code: waste.missed_collection")
    assert f"categories.yaml:{line}: category 'waste.missed_collection': missing field 'name_en'" in str(error)


def test_missing_assignee_field(tmp_path: Path) -> None:
    broken = GOOD_ASSIGNEES.replace("    may_see_contact: false\n", "")
    error = _load_error(tmp_path, assignees=broken)
    line = _line_of(broken, "code: waste_company")
    assert f"assignees.yaml:{line}: assignee 'waste_company': missing field 'may_see_contact'" in str(error)


def test_unknown_field_is_a_typo_not_ignored(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("spike_prone: true", "spike_prone: true\n    spikeprone: true")
    error = _load_error(tmp_path, categories=broken)
    assert f"categories.yaml:{_line_of(broken, 'spikeprone')}:" in str(error)
    assert "unknown field 'spikeprone'" in str(error)


def test_webhook_channel_needs_url_and_https(tmp_path: Path) -> None:
    no_url = GOOD_ASSIGNEES.replace("    webhook_url: https://waste.example.be/hook\n", "")
    assert "channel 'webhook' needs a webhook_url" in str(_load_error(tmp_path, assignees=no_url))
    plain = GOOD_ASSIGNEES.replace("https://waste.example.be", "http://waste.example.be")
    error = _load_error(tmp_path, assignees=plain)
    assert f"assignees.yaml:{_line_of(plain, 'webhook_url')}:" in str(error)
    assert "https" in str(error)


def test_email_channel_needs_an_address(tmp_path: Path) -> None:
    broken = GOOD_ASSIGNEES.replace("channel: webhook", "channel: email")
    assert "channel 'email' needs an email address" in str(_load_error(tmp_path, assignees=broken))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("kind: contractor", "kind: supplier", "kind must be one of"),
        ("channel: webhook", "channel: sms", "channel must be one of"),
        ("may_see_contact: false", "may_see_contact: nope", "may_see_contact' must be true or false"),
        ("ack_hours: 8", "ack_hours: 0", "ack_hours must be positive"),
        ("ack_hours: 8", "ack_hours: soon", "ack_hours must be a number"),
        ("responsible_department: contact_center_triage", "responsible_department: waste_company", "not a department"),
    ],
)
def test_assignee_field_values_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    broken = GOOD_ASSIGNEES.replace(old, new)
    error = _load_error(tmp_path, assignees=broken)
    assert f"assignees.yaml:{_line_of(broken, new)}:" in str(error)
    assert message in str(error)


def test_triage_assignee_is_required(tmp_path: Path) -> None:
    broken = GOOD_ASSIGNEES.replace("contact_center_triage", "triage")
    categories = GOOD_CATEGORIES.replace("contact_center_triage", "triage")
    error = _load_error(tmp_path, categories=categories, assignees=broken)
    assert f"assignee '{TRIAGE}' is required" in str(error)


def test_fallback_category_is_required(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("code: other", "code: misc")
    assert f"category '{FALLBACK_CATEGORY}' is required" in str(_load_error(tmp_path, categories=broken))


def test_empty_default_assignees(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("[waste_company]", "[]")
    assert "default_assignees must not be empty" in str(_load_error(tmp_path, categories=broken))


def test_call_subject_claimed_by_two_categories(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("spike_prone: true", "spike_prone: true\n    call_subjects: [other]")
    error = _load_error(tmp_path, categories=broken)
    assert "call subject 'other' already counts as 'other'" in str(error)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("name_en: Other", "name_en: [Other")
    error = _load_error(tmp_path, categories=broken)
    assert "categories.yaml:" in str(error)
    assert "invalid YAML" in str(error)
    line = int(str(error).split("categories.yaml:")[1].split(":")[0])
    assert line >= _line_of(broken, "[Other")


def test_empty_file(tmp_path: Path) -> None:
    assert "categories.yaml:1: the file is empty" in str(_load_error(tmp_path, categories=""))


def test_missing_version_and_list(tmp_path: Path) -> None:
    error = _load_error(tmp_path, categories="foo: 1\n")
    assert set(error.errors) == {
        "categories.yaml:1: missing top-level 'version'",
        "categories.yaml:1: unknown top-level key 'foo'",
        "categories.yaml:1: missing top-level 'categories' list",
    }


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    broken = GOOD_CATEGORIES.replace("sla_working_days: 1", "sla_working_days: -1").replace(
        "[waste_company]", "[ghost]"
    )
    error = _load_error(tmp_path, categories=broken)
    assert len(error.errors) == 2
    assert str(error).startswith("2 errors in ")
    assert all(e.startswith("categories.yaml:") for e in error.errors)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        Catalogue.load(tmp_path / "missing.yaml", ASSIGNEES)
