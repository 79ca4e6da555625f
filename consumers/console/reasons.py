"""Why the statistics refused a query, in the user's language.

The reasons are the hub's own, a known set: the statistics' rules across parameters (`PERIOD_RULES`), the
parameter models' checks (pydantic's error types on the hub's own fields) and a parameter given twice. Each is
worded by its error type, never by its English `msg`; a type not in this table is shown as the API
gave it (free text from elsewhere, left as it is). Management's page words the errors itself; the dashboard's script gets the same words (`client_words`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from consumers.console import i18n
from consumers.stats.schemas import MAX_DAYS

_RANGE = {"nl": "buiten het toegelaten bereik", "en": "outside the allowed range", "fr": "hors de la plage permise"}
_DATE = {"nl": "geen geldige datum (jjjj-mm-dd)", "en": "not a valid date (yyyy-mm-dd)", "fr": "pas une date valable"}

REASONS: dict[str, dict[str, str]] = {
    "period_year_and_range": {
        "nl": "geef een jaar of een periode (van, tot), niet allebei",
        "en": "give a year or a range (from, to), not both",
        "fr": "donnez une année ou une période (du, au), pas les deux",
    },
    "period_to_needs_from": {
        "nl": "een einddatum vraagt ook een begindatum",
        "en": "a last day needs a first day",
        "fr": "une date de fin demande aussi une date de début",
    },
    "period_to_before_from": {
        "nl": "de einddatum ligt vóór de begindatum",
        "en": "the last day is before the first",
        "fr": "la date de fin précède la date de début",
    },
    "period_too_long": {
        "nl": "een periode van hoogstens {days} dagen",
        "en": "a range of at most {days} days",
        "fr": "une période de {days} jours au plus",
    },
    "int_parsing": {"nl": "geen geheel getal", "en": "not a whole number", "fr": "pas un nombre entier"},
    "int_from_float": {"nl": "geen geheel getal", "en": "not a whole number", "fr": "pas un nombre entier"},
    "int_type": {"nl": "geen geheel getal", "en": "not a whole number", "fr": "pas un nombre entier"},
    "greater_than_equal": _RANGE,
    "less_than_equal": _RANGE,
    "greater_than": _RANGE,
    "less_than": _RANGE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "date_type": _DATE,
    "string_too_short": {"nl": "mag niet leeg zijn", "en": "must not be empty", "fr": "ne peut pas être vide"},
    "string_too_long": {"nl": "te lang", "en": "too long", "fr": "trop long"},
    "string_pattern_mismatch": {"nl": "geen geldige code", "en": "not a valid code", "fr": "pas un code valable"},
    "literal_error": {
        "nl": "geen van de toegelaten waarden",
        "en": "not one of the allowed values",
        "fr": "pas une des valeurs permises",
    },
    "extra_forbidden": {"nl": "onbekende parameter", "en": "unknown parameter", "fr": "paramètre inconnu"},
    "repeated": {"nl": "meer dan eens gegeven", "en": "given more than once", "fr": "donné plus d'une fois"},
    "missing": {"nl": "ontbreekt", "en": "missing", "fr": "manquant"},
}

# The parameters a reason names (the filters' own words); others by their name.
FIELDS: dict[str, dict[str, str]] = {
    "year": {"nl": "jaar", "en": "year", "fr": "année"},
    "from": {"nl": "van", "en": "from", "fr": "du"},
    "to": {"nl": "tot", "en": "to", "fr": "au"},
    "district": {"nl": "deelgemeente", "en": "district", "fr": "section"},
    "category": {"nl": "categorie", "en": "category", "fr": "catégorie"},
    "grain": {"nl": "per", "en": "per", "fr": "par"},
    "as_of": {"nl": "op datum", "en": "as of", "fr": "à la date"},
}

# Fields every reason may be filled with (the hub's constants, the same for every request).
_CONSTANTS = {"days": MAX_DAYS}


def _field(loc: Iterable[Any], language: str) -> str | None:
    names = [str(part) for part in loc if part not in ("query", "body")]
    if not names:
        return None
    name = names[-1]
    return FIELDS.get(name, {}).get(language) or name


def reason(language: str, type_: str, loc: Iterable[Any] = (), msg: str = "") -> str:
    """One error in `language`: "jaar: geen geheel getal"; an unknown type keeps the API's `msg`."""
    words = REASONS.get(type_)
    text = msg if words is None else (words.get(language) or words[i18n.DEFAULT]).format(**_CONSTANTS)
    field = _field(loc, language)
    return text if field is None else f"{field}: {text}"


def reasons(language: str, errors: Iterable[Mapping[str, Any]]) -> str:
    """Several errors (pydantic's `errors()` or the API's `detail`), joined."""
    return "; ".join(reason(language, str(e.get("type", "")), e.get("loc", ()), str(e.get("msg", ""))) for e in errors)


def client_words(language: str) -> dict[str, dict[str, str]]:
    """The same words for the dashboard's script: reasons by type, parameters by name."""
    return {
        "reasons": {t: (w.get(language) or w[i18n.DEFAULT]).format(**_CONSTANTS) for t, w in REASONS.items()},
        "fields": {f: w.get(language) or w[i18n.DEFAULT] for f, w in FIELDS.items()},
    }
