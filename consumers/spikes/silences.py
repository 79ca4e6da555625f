"""What a silence applies to and for how long, from the command line's words (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from consumers.domain.refusal import Refusal
from consumers.spikes.detector import IncidentKey

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


class SilenceError(Refusal):
    """A silence that cannot be made as asked."""


def parse_duration(text: str) -> dt.timedelta:
    """`90m`, `2h`, `1d12h`, `1h 30m`: days, hours, minutes and seconds, in that order; at least a minute."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not parts or _PART.sub("", compact).strip():
        raise SilenceError(f"not a duration: {text!r} (examples: 90m, 2h, 1d12h)", "duration_bad", text=text)
    units = [unit for _, unit in parts]
    if len(set(units)) != len(units) or units != sorted(units, key="dhms".index):
        raise SilenceError(f"not a duration: {text!r} (each unit once, days first)", "duration_order", text=text)
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if seconds < 60:
        raise SilenceError("a silence lasts at least a minute", "duration_short")
    return dt.timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a silence matches: None matches any category or district; a street only an incident about that street."""

    category: str | None
    district: str | None
    street: str | None

    def describe(self) -> str:
        parts = [self.category or "any category", f"district {self.district}" if self.district else "any district"]
        if self.street:
            parts.append(f"street {self.street}")
        return ", ".join(parts)


def scope_of(
    *, key: str | None = None, category: str | None = None, district: str | None = None, street: str | None = None
) -> Scope:
    """An incident key (`waste.missed_collection|district:Brustem`), or a category and/or area."""
    if key is not None:
        if category or district or street:
            raise SilenceError("give an incident key, or a category and/or area, not both", "key_and_area")
        try:
            parsed = IncidentKey.parse(key)
        except ValueError as exc:
            raise SilenceError(str(exc), "key_bad", key=key) from None
        return Scope(parsed.category, parsed.district, parsed.street)
    if street and not district:
        raise SilenceError("a street needs its district", "street_needs_district")
    if not category and not district:
        # A silence of everything would hide the next real incident too: ask for a scope.
        raise SilenceError("give an incident key, a category, a district, or both", "no_scope")
    return Scope(category or None, district or None, street or None)


def new_silence_id() -> str:
    return f"sil-{uuid.uuid4().hex[:12]}"
