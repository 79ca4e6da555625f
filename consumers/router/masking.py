"""Contact data in free text: phone numbers (found by `phonenumbers`, Google's libphonenumber), e-mail addresses and
the reporter's name, masked for assignees whose data policy withholds them. Pure: no I/O.

Phone numbers are found in two passes, both judged by `phonenumbers` with region BE:
  1. `PhoneNumberMatcher` (leniency POSSIBLE, so a number glued to a word, "bel0470123456", is found too) over the
     text with every kind of space made a plain space (a narrow no-break space otherwise hides a number);
  2. what the matcher leaves: runs of digit groups separated by spaces that hold several numbers in a row
     ("0470 12 34 56 011 70 14 14" is one candidate to the matcher, too long to be one number, so it keeps none).
     The longest prefix of groups that is a valid number is masked, then the rest of the run is looked at again.
A match counts as a phone number only when it is written as citizens write one: with the national prefix 0, an
international prefix (+, 00) or a country code. A bare run of digits ("paal 12345678", "nr. 123456789") is a pole,
file or house number, not a phone number, even when its digits would make a valid one.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumber, PhoneNumberMatcher

REDACTED = "[afgeschermd]"
"""What replaces contact data in descriptions sent to assignees that may not see it."""

REGION = "BE"
# No phone number anywhere has fewer digits than this (with its prefix).
_MIN_DIGITS = 7
_MAX_DIGITS = 17  # an international prefix (00), a country code and the longest national number

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# The cheap pre-check: the matcher (50-150 µs a description) is asked only when the text holds 7 digits with at most
# a few spaces or punctuation marks between each two (no letters); most descriptions do not (1 µs).
_MAYBE_PHONE = re.compile(r"\d(?:[^\w]{0,4}\d){6}")  # _MIN_DIGITS digits
# Pass 2 looks at runs of whitespace-separated tokens made of digits and the punctuation of phone numbers.
_GROUP_RUN = re.compile(r"[+(]?[\d()./\-]*\d[\d()./\-]*(?:\s+[+(]?[\d()./\-]*\d[\d()./\-]*)+")
_GROUP = re.compile(r"\S+")
# Shorter name parts are particles (van, de, der, le) or initials: masking them would mangle the text.
_MIN_NAME_PART = 4


def _plain_spaces() -> dict[int, str]:
    """Every Unicode space separator (no-break, narrow no-break, thin, figure, ...) as a plain space: one character
    for one, so the matcher's offsets are offsets into the original text."""
    table = {}
    for code in range(0x80, 0x3001):
        if unicodedata.category(chr(code)) == "Zs":
            table[code] = " "
    return table


_SPACES = _plain_spaces()


def mask_contact_data(text: str, reporter_name: str | None) -> str:
    """The text with e-mail addresses, phone numbers and the reporter's name (its parts of 4 letters or more)
    replaced by REDACTED."""
    text = _EMAIL.sub(REDACTED, text)
    text = mask_phone_numbers(text)
    if reporter_name:
        for name in sorted({reporter_name, *reporter_name.split()}, key=len, reverse=True):
            if len(name.strip(".")) >= _MIN_NAME_PART:
                text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return text


def mask_phone_numbers(text: str) -> str:
    """The text with every phone number replaced by REDACTED; other numbers (dates, house numbers, amounts,
    postcodes, pole numbers) stay."""
    if _MAYBE_PHONE.search(text) is None:
        return text
    plain = text.translate(_SPACES)
    spans = [
        (m.start, m.end)
        for m in PhoneNumberMatcher(plain, REGION, leniency=Leniency.POSSIBLE)
        if _written_as_phone(m.raw_string, m.number)
    ]
    text, plain = _replace(text, spans), _replace(plain, spans)
    spans = [span for run in _GROUP_RUN.finditer(plain) for span in _numbers_in_a_row(plain, run.start(), run.end())]
    return _replace(text, spans)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + REDACTED + text[end:]
    return text


def _written_as_phone(raw: str, number: PhoneNumber) -> bool:
    digits = phonenumbers.normalize_digits_only(raw)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return False
    if digits.startswith("0") or "+" in raw or "＋" in raw:
        return True
    # A country code without its "+" ("32 470 12 34 56"): more digits than the national number, led by the code.
    national = phonenumbers.national_significant_number(number)
    return digits.startswith(str(number.country_code)) and len(digits) > len(national)


def _numbers_in_a_row(text: str, start: int, end: int) -> list[tuple[int, int]]:
    groups = [(start + m.start(), start + m.end()) for m in _GROUP.finditer(text[start:end])]
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        for j in range(len(groups), i, -1):
            candidate = text[groups[i][0] : groups[j - 1][1]]
            if _is_valid_phone(candidate):
                found.append((groups[i][0], groups[j - 1][1]))
                i = j
                break
        else:
            i += 1
    return found


def _is_valid_phone(candidate: str) -> bool:
    digits = phonenumbers.normalize_digits_only(candidate)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return False
    try:
        number = phonenumbers.parse(candidate, REGION)
    except NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and _written_as_phone(candidate, number)
