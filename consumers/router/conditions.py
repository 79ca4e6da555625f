"""What a routing rule is: its compiled conditions over the facts of one report, and the rule itself.

Each condition is compiled once at load time into a fast `matches` (sets, pre-built regular expressions,
minutes of the day) and the texts that explain a hit or a miss (`hub route --explain`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from consumers.domain.calendar import DAY_NAMES, CityCalendar
from consumers.domain.catalogue import (
    Category,
)
from contracts.reports import ReportFiled

CATEGORY_DEFAULT = "@category_default"
"""In `assign:`, stands for the default assignees of the report's category."""

UNKNOWN_CATEGORY_RULE_ID = "unknown-category"
"""Rule id of decisions for reports whose category is not in the catalogue (no rule of the file applies)."""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONDITION_KEYS = (
    "category",
    "district",
    "postcode",
    "street",
    "weekdays",
    "time",
    "office_hours",
    "keywords",
    "waste_fraction",
)
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
POSTCODE = re.compile(r"^[1-9][0-9]{3}$")
_MINUTES_PER_DAY = 24 * 60


# --- Facts about one report, computed once per evaluation --------------------------------------------------------


class Facts:
    __slots__ = ("_calendar", "_open", "local", "minute", "report")

    def __init__(self, report: ReportFiled, calendar: CityCalendar) -> None:
        self.report = report
        self._calendar = calendar
        self.local = calendar.local(report.filed_at)
        self.minute = self.local.hour * 60 + self.local.minute
        self._open: bool | None = None

    @property
    def is_open(self) -> bool:
        # Lazy: the holiday lookup is the most expensive fact and most rules never ask for it.
        if self._open is None:
            self._open = self._calendar.is_open(self.local)
        return self._open

    def when(self) -> str:
        return self._calendar.when(self.report.filed_at)

    def closed_because(self) -> str:
        day = self.local.date()
        holiday = self._calendar.holiday_name(day)
        if holiday is not None:
            return f"public holiday: {holiday}" if holiday != "closed" else "the city is closed that day"
        span = self._calendar.opening_hours.get(day.weekday())
        if span is None:
            return f"no opening hours on {DAY_NAMES[day.weekday()]}"
        return f"outside opening hours {span[0]:%H:%M}-{span[1]:%H:%M}"


def listing(values: Iterable[str]) -> str:
    return ", ".join(values)


# --- Compiled conditions -------------------------------------------------------------------------------------------


class Condition:
    """One compiled condition of a rule: a fast `matches`, and texts for explanations."""

    __slots__ = ("key", "line")

    def __init__(self, key: str, line: int) -> None:
        self.key = key
        self.line = line

    def matches(self, facts: Facts) -> bool:
        raise NotImplementedError

    def hit(self, facts: Facts) -> str:
        """Why the condition matched the report."""
        raise NotImplementedError

    def miss(self, facts: Facts) -> str:
        """Why the condition did not match the report."""
        raise NotImplementedError

    def subsumes(self, narrower: Condition | None) -> bool:
        """True if every report `narrower` lets through also passes this condition (None: no such condition)."""
        return False


class CategoryCondition(Condition):
    __slots__ = ("codes", "patterns")

    def __init__(self, line: int, patterns: tuple[str, ...], codes: frozenset[str]) -> None:
        super().__init__("category", line)
        self.patterns = patterns
        self.codes = codes

    def matches(self, facts: Facts) -> bool:
        return facts.report.category in self.codes

    def hit(self, facts: Facts) -> str:
        code = facts.report.category
        if code in self.patterns:
            return f"category '{code}' is listed"
        pattern = next(p for p in self.patterns if p.endswith(".*") and code.startswith(p[:-1]))
        return f"category '{code}' matches '{pattern}'"

    def miss(self, facts: Facts) -> str:
        return f"category '{facts.report.category}' is not one of {listing(self.patterns)}"


class _SetCondition(Condition):
    """A report field that must be one of a set of values, compared case-insensitively."""

    __slots__ = ("label", "shown", "values")

    def __init__(self, key: str, line: int, label: str, shown: tuple[str, ...]) -> None:
        super().__init__(key, line)
        self.label = label
        self.shown = shown
        self.values = frozenset(v.casefold() for v in shown)

    def value(self, facts: Facts) -> str | None:
        raise NotImplementedError

    def matches(self, facts: Facts) -> bool:
        value = self.value(facts)
        return value is not None and value.casefold() in self.values

    def hit(self, facts: Facts) -> str:
        return f"{self.label} '{self.value(facts)}' is one of {listing(self.shown)}"

    def miss(self, facts: Facts) -> str:
        value = self.value(facts)
        if value is None:
            return f"the report has no {self.label}"
        return f"{self.label} '{value}' is not one of {listing(self.shown)}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, type(self)) and narrower.values <= self.values


class DistrictCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("district", line, "district", shown)

    def value(self, facts: Facts) -> str | None:
        return facts.report.location.district


class PostcodeCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("postcode", line, "postcode", shown)

    def value(self, facts: Facts) -> str | None:
        return facts.report.location.postcode


class WasteFractionCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("waste_fraction", line, "waste fraction", shown)

    def value(self, facts: Facts) -> str | None:
        return facts.report.waste_fraction


class StreetCondition(Condition):
    __slots__ = ("_each", "_regex", "patterns")

    def __init__(self, line: int, patterns: tuple[str, ...]) -> None:
        super().__init__("street", line)
        self.patterns = patterns
        self._each = tuple((p, _glob(p)) for p in patterns)
        self._regex = re.compile("|".join(f"(?:{r.pattern})" for _, r in self._each), re.IGNORECASE)

    def matches(self, facts: Facts) -> bool:
        return self._regex.fullmatch(facts.report.location.street or "") is not None

    def hit(self, facts: Facts) -> str:
        street = facts.report.location.street or ""
        pattern = next(p for p, r in self._each if r.fullmatch(street))
        return f"street '{street}' matches '{pattern}'" if "*" in pattern else f"street '{street}' is listed"

    def miss(self, facts: Facts) -> str:
        return f"street '{facts.report.location.street}' is not one of {listing(self.patterns)}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, StreetCondition) and {p.casefold() for p in narrower.patterns} <= {
            p.casefold() for p in self.patterns
        }


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


class WeekdayCondition(Condition):
    __slots__ = ("days",)

    def __init__(self, line: int, days: frozenset[int]) -> None:
        super().__init__("weekdays", line)
        self.days = days

    def _shown(self) -> str:
        return listing(WEEKDAYS[d] for d in sorted(self.days))

    def matches(self, facts: Facts) -> bool:
        return facts.local.weekday() in self.days

    def hit(self, facts: Facts) -> str:
        day = facts.local.weekday()
        return f"filed on a {DAY_NAMES[day]} ({WEEKDAYS[day]} is one of {self._shown()})"

    def miss(self, facts: Facts) -> str:
        day = facts.local.weekday()
        return f"filed on a {DAY_NAMES[day]} ({WEEKDAYS[day]} is not one of {self._shown()})"

    def subsumes(self, narrower: Condition | None) -> bool:
        if narrower is None:
            return len(self.days) == len(WEEKDAYS)
        return isinstance(narrower, WeekdayCondition) and narrower.days <= self.days


class TimeCondition(Condition):
    __slots__ = ("end", "mask", "start")

    def __init__(self, line: int, start: int, end: int) -> None:
        super().__init__("time", line)
        self.start = start
        self.end = end
        minutes = range(start, end) if start < end else [*range(start, _MINUTES_PER_DAY), *range(end)]
        # One bit per minute of the day: subset tests for shadowing and overlap tests for office hours.
        self.mask = sum(1 << m for m in minutes)

    def shown(self) -> str:
        return f"{hhmm(self.start)}-{hhmm(self.end)}"

    def matches(self, facts: Facts) -> bool:
        minute = facts.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def hit(self, facts: Facts) -> str:
        return f"filed at {hhmm(facts.minute)} local time, inside {self.shown()}"

    def miss(self, facts: Facts) -> str:
        return f"filed at {hhmm(facts.minute)} local time, outside {self.shown()}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, TimeCondition) and narrower.mask & ~self.mask == 0


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class OfficeHoursCondition(Condition):
    __slots__ = ("open",)

    def __init__(self, line: int, open_: bool) -> None:
        super().__init__("office_hours", line)
        self.open = open_

    def matches(self, facts: Facts) -> bool:
        return facts.is_open == self.open

    def _state(self, facts: Facts) -> str:
        if facts.is_open:
            return f"filed during office hours ({facts.when()})"
        return f"filed while the ContactCenter was closed ({facts.when()}, {facts.closed_because()})"

    def hit(self, facts: Facts) -> str:
        return self._state(facts)

    def miss(self, facts: Facts) -> str:
        wanted = "during office hours" if self.open else "outside office hours"
        return f"the rule wants reports {wanted}, but it was {self._state(facts)}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, OfficeHoursCondition) and narrower.open is self.open


class KeywordCondition(Condition):
    __slots__ = ("_each", "_regex", "keywords")

    def __init__(self, line: int, keywords: tuple[str, ...]) -> None:
        super().__init__("keywords", line)
        self.keywords = keywords
        self._each = tuple((k, _keyword_regex(k)) for k in keywords)
        # One alternation for the fast path; the per-keyword regexes only serve explanations.
        body = "|".join(_keyword_body(k) for k in keywords)
        self._regex = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)

    def matches(self, facts: Facts) -> bool:
        return self._regex.search(facts.report.description) is not None

    def hit(self, facts: Facts) -> str:
        # The first occurrence in the text, which is what a reader of the description sees first.
        found = self._regex.search(facts.report.description)
        if found is None:
            raise AssertionError("hit() called for a description that does not match")
        keyword = next(k for k, regex in self._each if regex.fullmatch(found.group(0)))
        return f"description contains '{found.group(0)}' (keyword '{keyword}')"

    def miss(self, facts: Facts) -> str:
        return f"description contains none of the keywords {listing(self.keywords)}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, KeywordCondition) and {k.casefold() for k in narrower.keywords} <= {
            k.casefold() for k in self.keywords
        }


def _keyword_body(keyword: str) -> str:
    stem, wildcard = (keyword[:-1], True) if keyword.endswith("*") else (keyword, False)
    # A phrase matches across any run of white space, e.g. a line break in the middle of "diep gat".
    body = r"\s+".join(re.escape(word) for word in stem.split())
    return body + r"\w*" if wildcard else body


def _keyword_regex(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){_keyword_body(keyword)}(?!\w)", re.IGNORECASE)


# --- Rules ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions (ANDed; none means catch-all) and the assignees it assigns."""

    id: str
    description: str
    line: int
    conditions: tuple[Condition, ...]
    assign: tuple[str, ...]
    categories: frozenset[str]
    """The category codes this rule can match: all catalogue codes when it has no category condition."""

    @property
    def catch_all(self) -> bool:
        return not self.conditions

    def assignees_for(self, category: Category) -> tuple[str, ...]:
        """The assignee codes for a report of `category`, with "@category_default" expanded, without repeats."""
        codes: list[str] = []
        for token in self.assign:
            codes.extend(category.default_assignees if token == CATEGORY_DEFAULT else (token,))
        return tuple(dict.fromkeys(codes))

    def condition(self, key: str) -> Condition | None:
        return next((c for c in self.conditions if c.key == key), None)
