"""Why the console refused what a user asked (a silence, a draft, a notice, a lookup), in the user's language.

The features raise a `Refusal` with a code and the fields its English message names (the command line prints that
message); the pages word the code here. Anything else (another error's text) is shown as it is.
"""

from __future__ import annotations

from consumers.console import i18n
from consumers.console.i18n import translate

TEXT = {
    "nl": {
        "duration_bad": "geen geldige duur: {text} (bv. 90m, 2h, 1d12h)",
        "duration_order": "geen geldige duur: {text} (elke eenheid één keer, dagen eerst)",
        "duration_short": "een stilte duurt minstens een minuut",
        "key_and_area": "geef een incidentsleutel of een categorie en/of gebied, niet allebei",
        "key_bad": "geen geldige incidentsleutel: {key}",
        "street_needs_district": "een straat vraagt ook haar deelgemeente",
        "no_scope": "geef een incidentsleutel, een categorie, een deelgemeente of beide",
        "ends_in_past": "de stilte zou in het verleden eindigen",
        "no_reason": "geef een reden (ze staat bij elk alarm dat de stilte tegenhoudt)",
        "reason_long": "de reden is langer dan {max} tekens",
        "no_alert": "geen alarm bekend voor incident {incident}",
        "draft_lang": "geen taal voor een tekst: {lang} (nl, en, fr)",
        "draft_long": "een tekst is hoogstens {max} tekens lang",
        "query_long": "hoogstens {max} tekens",
        "query_short": "geef een nummer, of minstens {min} letters van een straat",
        "broadcast_future": "het tijdstip van het bericht ligt in de toekomst",
        "incident_and_key": "geef een incident of een sleutel, niet allebei",
        "no_target": "geef een incident of een sleutel",
    },
    "en": {
        "duration_bad": "not a duration: {text} (examples: 90m, 2h, 1d12h)",
        "duration_order": "not a duration: {text} (each unit once, days first)",
        "duration_short": "a silence lasts at least a minute",
        "key_and_area": "give an incident key, or a category and/or area, not both",
        "key_bad": "not an incident key: {key}",
        "street_needs_district": "a street needs its district",
        "no_scope": "give an incident key, a category, a district, or both",
        "ends_in_past": "the silence would end in the past",
        "no_reason": "give a reason (it is shown with every alert the silence holds back)",
        "reason_long": "the reason is longer than {max} characters",
        "no_alert": "no alert recorded for incident {incident}",
        "draft_lang": "no draft language {lang} (nl, en, fr)",
        "draft_long": "a draft is at most {max} characters",
        "query_long": "at most {max} characters",
        "query_short": "give an id, or at least {min} letters of a street",
        "broadcast_future": "the notice's time is in the future",
        "incident_and_key": "give an incident or a key, not both",
        "no_target": "give an incident or a key",
    },
    "fr": {
        "duration_bad": "pas une durée valable : {text} (p. ex. 90m, 2h, 1d12h)",
        "duration_order": "pas une durée valable : {text} (chaque unité une fois, les jours d'abord)",
        "duration_short": "une mise en sourdine dure au moins une minute",
        "key_and_area": "donnez une clé d'incident, ou une catégorie et/ou une zone, pas les deux",
        "key_bad": "pas une clé d'incident valable : {key}",
        "street_needs_district": "une rue demande aussi sa section",
        "no_scope": "donnez une clé d'incident, une catégorie, une section, ou les deux",
        "ends_in_past": "la mise en sourdine finirait dans le passé",
        "no_reason": "donnez une raison (elle accompagne chaque alerte retenue)",
        "reason_long": "la raison dépasse {max} caractères",
        "no_alert": "aucune alerte connue pour l'incident {incident}",
        "draft_lang": "pas de langue de texte {lang} (nl, en, fr)",
        "draft_long": "un texte compte au plus {max} caractères",
        "query_long": "{max} caractères au plus",
        "query_short": "donnez un numéro, ou au moins {min} lettres d'une rue",
        "broadcast_future": "l'heure du message est dans le futur",
        "incident_and_key": "donnez un incident ou une clé, pas les deux",
        "no_target": "donnez un incident ou une clé",
    },
}
i18n.add_languages("refused", TEXT)


def refused(exc: Exception, language: str) -> str:
    """The refusal in `language` when its code is known here; otherwise the error's own text."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and f"refused.{code}" in i18n.CATALOGUE:
        return translate(language, f"refused.{code}", **getattr(exc, "fields", {}))
    return str(exc)
