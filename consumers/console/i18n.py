"""The console's words in Dutch (the default), English and French: one catalogue of keyed messages.

A page module adds its own messages at import with `add({...})`, each key with all three languages (a missing one
is an error at import, so a page never shows a key), or `add_languages(prefix, {"nl": {...}, "en": ..., "fr": ...})`
for words written one language at a time. Templates call `t("key", name=...)`; `str.format` fields. A page's
script gets its words with `messages(language, prefix)` (the dashboard's, consumers.console.dashboard_http).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from consumers.console.accounts import LANGUAGES

DEFAULT = "nl"
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English", "fr": "Français"}

CATALOGUE: dict[str, dict[str, str]] = {}
_FIELD = re.compile(r"{(\w+)}")


def add(messages: Mapping[str, Mapping[str, str]]) -> None:
    """Add messages: key -> {"nl": ..., "en": ..., "fr": ...}. A key already there with other words is an error."""
    for key, texts in messages.items():
        missing = [lang for lang in LANGUAGES if not texts.get(lang)]
        if missing:
            raise ValueError(f"console message {key!r} lacks {', '.join(missing)}")
        if key in CATALOGUE and CATALOGUE[key] != dict(texts):
            raise ValueError(f"console message {key!r} is defined twice")
        CATALOGUE[key] = dict(texts)


def add_languages(prefix: str, text: Mapping[str, Mapping[str, str]]) -> None:
    """Add a page's messages written per language (so a translator reads one language at a time):
    language -> {key: words}, every language with the same keys as Dutch; each key gets `prefix` + "."."""
    keys = text[DEFAULT].keys()
    for lang in LANGUAGES:
        words = text.get(lang, {})
        if words.keys() != keys:
            raise ValueError(f"{prefix} messages: {lang} has other keys than nl: {sorted(set(words) ^ set(keys))}")
        for key in keys:
            # The same fields as the Dutch, so a translation never breaks a page.
            if set(_FIELD.findall(words[key])) != set(_FIELD.findall(text[DEFAULT][key])):
                raise ValueError(f"{prefix}.{key}: the {lang} words have other {{fields}} than the Dutch")
    add({f"{prefix}.{key}": {lang: text[lang][key] for lang in LANGUAGES} for key in keys})


def messages(language: str, prefix: str) -> dict[str, str]:
    """Every message under `prefix` + "." in one language, untranslated fields left as they are (for a page's
    script, which fills them in itself)."""
    start = f"{prefix}."
    return {key: texts.get(language) or texts[DEFAULT] for key, texts in CATALOGUE.items() if key.startswith(start)}


def translate(language: str, key: str, **fields: object) -> str:
    texts = CATALOGUE.get(key)
    if texts is None:
        raise KeyError(f"no console message {key!r}")
    text = texts.get(language) or texts[DEFAULT]
    return text.format(**fields) if fields else text


def pick(requested: str | None, accept_language: str | None = None) -> str:
    """The language to answer in: the one asked for (?lang=), else Dutch. Accept-Language is not followed: the
    city's console is Dutch first, whatever the browser says; each user chooses their own once signed in."""
    if requested in LANGUAGES:
        return str(requested)
    return DEFAULT


add(
    {
        "app.title": {"nl": "Console", "en": "Console", "fr": "Console"},
        "app.city": {"nl": "Stad Sint-Truiden", "en": "City of Sint-Truiden", "fr": "Ville de Saint-Trond"},
        "app.skip": {"nl": "Naar de inhoud", "en": "Skip to content", "fr": "Aller au contenu"},
        "nav.home": {"nl": "Start", "en": "Home", "fr": "Accueil"},
        "nav.comms": {"nl": "Communicatie", "en": "Communication", "fr": "Communication"},
        "nav.agent": {"nl": "ContactCenter", "en": "ContactCenter", "fr": "ContactCenter"},
        "nav.ops": {"nl": "Beheer", "en": "Operations", "fr": "Exploitation"},
        "nav.management": {"nl": "Management", "en": "Management", "fr": "Direction"},
        "nav.logout": {"nl": "Afmelden", "en": "Sign out", "fr": "Se déconnecter"},
        "nav.language": {"nl": "Taal", "en": "Language", "fr": "Langue"},
        "nav.signed_in_as": {"nl": "Aangemeld als {name}", "en": "Signed in as {name}", "fr": "Connecté : {name}"},
        "role.comms": {"nl": "communicatieteam", "en": "communication team", "fr": "équipe communication"},
        "role.agent": {"nl": "ContactCenter-medewerker", "en": "ContactCenter agent", "fr": "agent du ContactCenter"},
        "role.ops": {"nl": "beheer", "en": "operations", "fr": "exploitation"},
        "role.management": {"nl": "management", "en": "management", "fr": "direction"},
        "login.title": {"nl": "Aanmelden", "en": "Sign in", "fr": "Connexion"},
        "login.name": {"nl": "Gebruikersnaam", "en": "User name", "fr": "Nom d'utilisateur"},
        "login.password": {"nl": "Wachtwoord", "en": "Password", "fr": "Mot de passe"},
        "login.submit": {"nl": "Aanmelden", "en": "Sign in", "fr": "Se connecter"},
        "login.wrong": {
            "nl": "Gebruikersnaam of wachtwoord is niet juist.",
            "en": "The user name or password is not right.",
            "fr": "Le nom d'utilisateur ou le mot de passe est incorrect.",
        },
        "login.throttled": {
            "nl": "Te veel mislukte pogingen. Probeer opnieuw over {minutes} min.",
            "en": "Too many failed attempts. Try again in {minutes} min.",
            "fr": "Trop de tentatives échouées. Réessayez dans {minutes} min.",
        },
        "login.expired": {
            "nl": "Uw sessie is verlopen of het formulier is te oud. Meld u opnieuw aan.",
            "en": "Your session expired or the form is too old. Please sign in again.",
            "fr": "Votre session a expiré ou le formulaire est trop ancien. Reconnectez-vous.",
        },
        "login.signed_out": {"nl": "U bent afgemeld.", "en": "You are signed out.", "fr": "Vous êtes déconnecté."},
        "home.title": {"nl": "Welkom", "en": "Welcome", "fr": "Bienvenue"},
        "home.roles": {"nl": "Uw rollen: {roles}.", "en": "Your roles: {roles}.", "fr": "Vos rôles : {roles}."},
        "home.none": {
            "nl": "U hebt nog geen pagina's. Vraag beheer om een rol.",
            "en": "You have no pages yet. Ask operations for a role.",
            "fr": "Vous n'avez pas encore de pages. Demandez un rôle à l'exploitation.",
        },
        "forbidden.title": {"nl": "Geen toegang", "en": "No access", "fr": "Accès refusé"},
        "forbidden.text": {
            "nl": "Deze pagina is voor: {roles}. Uw rollen: {mine}.",
            "en": "This page is for: {roles}. Your roles: {mine}.",
            "fr": "Cette page est réservée à : {roles}. Vos rôles : {mine}.",
        },
        "csrf.refused": {
            "nl": "Het formulier is verlopen of kwam niet van deze console. Probeer opnieuw.",
            "en": "The form expired or did not come from this console. Please try again.",
            "fr": "Le formulaire a expiré ou ne vient pas de cette console. Réessayez.",
        },
        "language.title": {"nl": "Taal van de console", "en": "Console language", "fr": "Langue de la console"},
        "language.save": {"nl": "Opslaan", "en": "Save", "fr": "Enregistrer"},
        "common.none": {"nl": "geen", "en": "none", "fr": "aucun"},
        "common.back": {"nl": "Terug", "en": "Back", "fr": "Retour"},
        "common.done": {"nl": "Gedaan.", "en": "Done.", "fr": "Fait."},
        "common.when": {"nl": "Wanneer", "en": "When", "fr": "Quand"},
        "common.who": {"nl": "Wie", "en": "Who", "fr": "Qui"},
        "common.what": {"nl": "Wat", "en": "What", "fr": "Quoi"},
        "common.copy": {"nl": "Kopiëren", "en": "Copy", "fr": "Copier"},
        "common.copied": {"nl": "Gekopieerd", "en": "Copied", "fr": "Copié"},
    }
)
