"""Routing rules: an ordered list, first match wins, over category, place, time and words of a report.

The rule file is validated completely at load time (every problem reported with its line), and compiled into
an index per category so that evaluating a report is a handful of set lookups: the router evaluates
thousands of reports a second on storm days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.reports import ReportFiled
from hub.calendar import CityCalendar
from hub.catalogue import (
    CATEGORY_CODE,
    TRIAGE,
    Catalogue,
    Category,
    ConfigFileError,
    YamlMapping,
    check_keys,
    read_yaml_mapping,
)

CATEGORY_DEFAULT = "@category_default"
"""In `assign:`, stands for the default assignees of the report's category."""

UNKNOWN_CATEGORY_RULE_ID = "unknown-category"
"""Rule id of decisions for reports whose category is not in the catalogue (no rule of the file applies)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
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
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_POSTCODE = re.compile(r"^[1-9][0-9]{3}$")
_MINUTES_PER_DAY = 24 * 60


class RuleFileError(ConfigFileError):
    """The routing rule file is invalid; `errors` lists every problem as `routing_rules.yaml:<line>: ...`."""


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Which assignees get a work order for a report, by which rule, and why."""

    rule_id: str
    rule_line: int
    assignees: tuple[str, ...]
    reasons: tuple[str, ...]
    category_known: bool


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One step of a trace: whether a rule matched a report and, if not, the first condition that failed."""

    rule_id: str
    rule_line: int
    matched: bool
    detail: str


# --- Facts about one report, computed once per evaluation --------------------------------------------------------


class _Facts:
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
        return f"{_DAY_NAMES[self.local.weekday()]} {self.local:%Y-%m-%d %H:%M} {self._calendar.timezone}"

    def closed_because(self) -> str:
        day = self.local.date()
        holiday = self._calendar.holiday_name(day)
        if holiday is not None:
            return f"public holiday: {holiday}" if holiday != "closed" else "the city is closed that day"
        span = self._calendar.opening_hours.get(day.weekday())
        if span is None:
            return f"no opening hours on {_DAY_NAMES[day.weekday()]}"
        return f"outside opening hours {span[0]:%H:%M}-{span[1]:%H:%M}"


def _listing(values: Iterable[str]) -> str:
    return ", ".join(values)


# --- Compiled conditions -------------------------------------------------------------------------------------------


class Condition:
    """One compiled condition of a rule: a fast `matches`, and texts for explanations."""

    __slots__ = ("key", "line")

    def __init__(self, key: str, line: int) -> None:
        self.key = key
        self.line = line

    def matches(self, facts: _Facts) -> bool:
        raise NotImplementedError

    def hit(self, facts: _Facts) -> str:
        """Why the condition matched the report."""
        raise NotImplementedError

    def miss(self, facts: _Facts) -> str:
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

    def matches(self, facts: _Facts) -> bool:
        return facts.report.category in self.codes

    def hit(self, facts: _Facts) -> str:
        code = facts.report.category
        if code in self.patterns:
            return f"category '{code}' is listed"
        pattern = next(p for p in self.patterns if p.endswith(".*") and code.startswith(p[:-1]))
        return f"category '{code}' matches '{pattern}'"

    def miss(self, facts: _Facts) -> str:
        return f"category '{facts.report.category}' is not one of {_listing(self.patterns)}"


class _SetCondition(Condition):
    """A report field that must be one of a set of values, compared case-insensitively."""

    __slots__ = ("label", "shown", "values")

    def __init__(self, key: str, line: int, label: str, shown: tuple[str, ...]) -> None:
        super().__init__(key, line)
        self.label = label
        self.shown = shown
        self.values = frozenset(v.casefold() for v in shown)

    def value(self, facts: _Facts) -> str | None:
        raise NotImplementedError

    def matches(self, facts: _Facts) -> bool:
        value = self.value(facts)
        return value is not None and value.casefold() in self.values

    def hit(self, facts: _Facts) -> str:
        return f"{self.label} '{self.value(facts)}' is one of {_listing(self.shown)}"

    def miss(self, facts: _Facts) -> str:
        value = self.value(facts)
        if value is None:
            return f"the report has no {self.label}"
        return f"{self.label} '{value}' is not one of {_listing(self.shown)}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, type(self)) and narrower.values <= self.values


class DistrictCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("district", line, "district", shown)

    def value(self, facts: _Facts) -> str | None:
        return facts.report.location.district


class PostcodeCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("postcode", line, "postcode", shown)

    def value(self, facts: _Facts) -> str | None:
        return facts.report.location.postcode


class WasteFractionCondition(_SetCondition):
    __slots__ = ()

    def __init__(self, line: int, shown: tuple[str, ...]) -> None:
        super().__init__("waste_fraction", line, "waste fraction", shown)

    def value(self, facts: _Facts) -> str | None:
        return facts.report.waste_fraction


class StreetCondition(Condition):
    __slots__ = ("_each", "_regex", "patterns")

    def __init__(self, line: int, patterns: tuple[str, ...]) -> None:
        super().__init__("street", line)
        self.patterns = patterns
        self._each = tuple((p, _glob(p)) for p in patterns)
        self._regex = re.compile("|".join(f"(?:{r.pattern})" for _, r in self._each), re.IGNORECASE)

    def matches(self, facts: _Facts) -> bool:
        return self._regex.fullmatch(facts.report.location.street) is not None

    def hit(self, facts: _Facts) -> str:
        street = facts.report.location.street
        pattern = next(p for p, r in self._each if r.fullmatch(street))
        return f"street '{street}' matches '{pattern}'" if "*" in pattern else f"street '{street}' is listed"

    def miss(self, facts: _Facts) -> str:
        return f"street '{facts.report.location.street}' is not one of {_listing(self.patterns)}"

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
        return _listing(WEEKDAYS[d] for d in sorted(self.days))

    def matches(self, facts: _Facts) -> bool:
        return facts.local.weekday() in self.days

    def hit(self, facts: _Facts) -> str:
        day = facts.local.weekday()
        return f"filed on a {_DAY_NAMES[day]} ({WEEKDAYS[day]} is one of {self._shown()})"

    def miss(self, facts: _Facts) -> str:
        day = facts.local.weekday()
        return f"filed on a {_DAY_NAMES[day]} ({WEEKDAYS[day]} is not one of {self._shown()})"

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
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def matches(self, facts: _Facts) -> bool:
        minute = facts.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def hit(self, facts: _Facts) -> str:
        return f"filed at {_hhmm(facts.minute)} local time, inside {self.shown()}"

    def miss(self, facts: _Facts) -> str:
        return f"filed at {_hhmm(facts.minute)} local time, outside {self.shown()}"

    def subsumes(self, narrower: Condition | None) -> bool:
        return isinstance(narrower, TimeCondition) and narrower.mask & ~self.mask == 0


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class OfficeHoursCondition(Condition):
    __slots__ = ("open",)

    def __init__(self, line: int, open_: bool) -> None:
        super().__init__("office_hours", line)
        self.open = open_

    def matches(self, facts: _Facts) -> bool:
        return facts.is_open == self.open

    def _state(self, facts: _Facts) -> str:
        if facts.is_open:
            return f"filed during office hours ({facts.when()})"
        return f"filed while the ContactCenter was closed ({facts.when()}, {facts.closed_because()})"

    def hit(self, facts: _Facts) -> str:
        return self._state(facts)

    def miss(self, facts: _Facts) -> str:
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

    def matches(self, facts: _Facts) -> bool:
        return self._regex.search(facts.report.description) is not None

    def hit(self, facts: _Facts) -> str:
        # The first occurrence in the text, which is what a reader of the description sees first.
        found = self._regex.search(facts.report.description)
        if found is None:
            raise AssertionError("hit() called for a description that does not match")
        keyword = next(k for k, regex in self._each if regex.fullmatch(found.group(0)))
        return f"description contains '{found.group(0)}' (keyword '{keyword}')"

    def miss(self, facts: _Facts) -> str:
        return f"description contains none of the keywords {_listing(self.keywords)}"

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


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    checks: tuple[Condition, ...]  # without the category condition: the index already applied it
    assignees: tuple[str, ...]


class RuleSet:
    """A validated, compiled routing rule file."""

    __slots__ = ("_by_id", "_calendar", "_catalogue", "_index", "rules", "source", "version")

    def __init__(
        self,
        version: str,
        rules: Sequence[Rule],
        catalogue: Catalogue,
        calendar: CityCalendar,
        source: str = "",
    ) -> None:
        self.version = version
        self.rules = tuple(rules)
        self.source = source
        self._catalogue = catalogue
        self._calendar = calendar
        self._by_id = {rule.id: rule for rule in self.rules}
        # Per category, only the rules that can match it, in file order, with assignees resolved: evaluation
        # never looks at a category condition or expands "@category_default" again.
        self._index: dict[str, tuple[_Compiled, ...]] = {
            code: tuple(
                _Compiled(
                    rule=rule,
                    checks=tuple(c for c in rule.conditions if c.key != "category"),
                    assignees=rule.assignees_for(category),
                )
                for rule in self.rules
                if code in rule.categories
            )
            for code, category in catalogue.categories.items()
        }

    @classmethod
    def load(
        cls,
        path: Path,
        catalogue: Catalogue,
        calendar: CityCalendar,
        *,
        known_districts: Iterable[str] | None = None,
    ) -> RuleSet:
        """Load and validate a rule file; raise RuleFileError listing every problem with its line.

        With `known_districts`, a district condition naming another district is an error (it could never match).
        """
        top = read_yaml_mapping(path, RuleFileError)
        errors: list[str] = []
        loader = _Loader(top, catalogue, calendar, known_districts, errors)
        version, rules = loader.load()
        if errors:
            raise RuleFileError(str(path), errors)
        return cls(version, rules, catalogue, calendar, source=str(path))

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def evaluate(self, report: ReportFiled) -> RoutingDecision:
        """The routing decision for a report. Never raises for a valid report: unknown categories go to triage."""
        candidates = self._index.get(report.category)
        if candidates is None:
            return self._unknown_category(report)
        facts = _Facts(report, self._calendar)
        for compiled in candidates:
            for check in compiled.checks:
                if not check.matches(facts):
                    break
            else:
                return RoutingDecision(
                    rule_id=compiled.rule.id,
                    rule_line=compiled.rule.line,
                    assignees=compiled.assignees,
                    reasons=self._reasons(compiled.rule, facts),
                    category_known=True,
                )
        # Unreachable for a loaded rule set (its last rule is a catch-all); a rule set built by hand without
        # one must still not drop the report.
        return RoutingDecision(
            rule_id=UNKNOWN_CATEGORY_RULE_ID,
            rule_line=0,
            assignees=(TRIAGE,),
            reasons=(f"no rule matched category '{report.category}': sent to {TRIAGE}",),
            category_known=True,
        )

    def trace(self, report: ReportFiled) -> tuple[RuleCheck, ...]:
        """Every rule in order up to the one that matched, each with why it did or did not match.

        Deliberately the slow path (no index), so tests can check the fast path against it.
        Empty for a report with an unknown category: no rule applies to it.
        """
        if self._catalogue.category(report.category) is None:
            return ()
        facts = _Facts(report, self._calendar)
        checks: list[RuleCheck] = []
        for rule in self.rules:
            failed = next((c for c in rule.conditions if not c.matches(facts)), None)
            if failed is None:
                checks.append(RuleCheck(rule.id, rule.line, True, "; ".join(self._reasons(rule, facts))))
                break
            checks.append(RuleCheck(rule.id, rule.line, False, f"line {failed.line}: {failed.miss(facts)}"))
        return tuple(checks)

    def _reasons(self, rule: Rule, facts: _Facts) -> tuple[str, ...]:
        reasons = [condition.hit(facts) for condition in rule.conditions]
        if rule.catch_all:
            reasons.append(f"rule '{rule.id}' has no conditions: it takes every report no earlier rule took")
        if CATEGORY_DEFAULT in rule.assign:
            category = self._catalogue.category(facts.report.category)
            if category is not None:
                reasons.append(f"{CATEGORY_DEFAULT} of '{category.code}' is {_listing(category.default_assignees)}")
        return tuple(reasons)

    def _unknown_category(self, report: ReportFiled) -> RoutingDecision:
        return RoutingDecision(
            rule_id=UNKNOWN_CATEGORY_RULE_ID,
            rule_line=0,
            assignees=(TRIAGE,),
            reasons=(
                f"category '{report.category}' is not in the category catalogue "
                f"(version {self._catalogue.categories_version}): sent to {TRIAGE} to be classified by hand",
            ),
            category_known=False,
        )


def district_names(path: Path) -> frozenset[str]:
    """The district names of a `districts.yaml`, to pass as `known_districts` to `RuleSet.load`."""
    top = read_yaml_mapping(path, RuleFileError)
    districts = top.get("districts")
    if not isinstance(districts, dict):
        raise RuleFileError(str(path), [f"{top.where('districts')}: 'districts' must be a mapping of names"])
    return frozenset(str(name) for name in districts)


# --- Loading and validation ----------------------------------------------------------------------------------------


class _Loader:
    """Turns the parsed YAML into rules, collecting every error instead of stopping at the first."""

    def __init__(
        self,
        top: YamlMapping,
        catalogue: Catalogue,
        calendar: CityCalendar,
        known_districts: Iterable[str] | None,
        errors: list[str],
    ) -> None:
        self.top = top
        self.catalogue = catalogue
        self.calendar = calendar
        self.districts = None if known_districts is None else {d.casefold() for d in known_districts}
        self.errors = errors
        self.all_codes = frozenset(catalogue.categories)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def load(self) -> tuple[str, list[Rule]]:
        top = self.top
        check_keys(top, "rule file", ("version", "rules"), (), self.errors)
        version = top.get("version")
        if "version" in top and (not isinstance(version, str) or not version.strip()):
            # Unquoted, 2026-11-28 is a YAML date and 1.10 the float 1.1: only a quoted string survives as written.
            self.error(top.where("version"), "'version' must be a quoted string, e.g. version: \"2026-11-28.1\"")
        rules: list[Rule] = []
        if "rules" in top and not isinstance(top.get("rules"), list):
            self.error(top.where("rules"), "'rules' must be a list of rules")
        seen: dict[str, int] = {}
        # Whether the last entry compiled: if not, "no final catch-all" would only echo its real error.
        last_ok = True
        for line, entry in top.sequence("rules"):
            rule = None
            if entry is None:
                self.error(f"{top.file}:{line}", "each rule must be a mapping with id, description, when, assign")
            else:
                rule = self.rule(line, entry)
            if rule is not None and rule.id in seen and entry is not None:
                self.error(entry.where("id"), f"duplicate rule id '{rule.id}' (first at line {seen[rule.id]})")
                rule = None
            elif rule is not None:
                seen[rule.id] = rule.line
                rules.append(rule)
            last_ok = rule is not None
        if isinstance(top.get("rules"), list):
            if last_ok:
                self.check_catch_all(rules)
            # Rules that failed to compile are left out: that only removes blockers, so no false alarms.
            self.check_shadowing(rules)
        return (version.strip() if isinstance(version, str) else "unversioned"), rules

    def rule(self, line: int, entry: YamlMapping) -> Rule | None:
        rule_id = entry.get("id")
        label = f"rule '{rule_id}'" if isinstance(rule_id, str) else f"rule at line {line}"
        before = len(self.errors)
        check_keys(entry, label, ("id", "description", "assign"), ("when",), self.errors)
        if rule_id is not None and (not isinstance(rule_id, str) or not RULE_ID.match(rule_id)):
            self.error(entry.where("id"), f"{label}: id must match {RULE_ID.pattern}")
        elif rule_id == UNKNOWN_CATEGORY_RULE_ID:
            self.error(entry.where("id"), f"{label}: id '{rule_id}' is reserved for reports of unknown categories")
        description = entry.get("description")
        if description is not None and (not isinstance(description, str) or not description.strip()):
            self.error(entry.where("description"), f"{label}: description must be a non-empty text")
        conditions = self.conditions(entry, label)
        assign = self.assign(entry, label)
        if len(self.errors) > before or not isinstance(rule_id, str) or not isinstance(description, str):
            return None
        category = next((c for c in conditions if isinstance(c, CategoryCondition)), None)
        rule = Rule(
            id=rule_id,
            description=" ".join(description.split()),
            line=line,
            conditions=conditions,
            assign=assign,
            categories=self.all_codes if category is None else category.codes,
        )
        self.check_office_hours(rule, entry, label)
        return rule

    # -- conditions --

    def conditions(self, entry: YamlMapping, label: str) -> tuple[Condition, ...]:
        if "when" not in entry or entry.get("when") is None:
            return ()
        when = entry.mapping("when")
        if when is None:
            self.error(entry.where("when"), f"{label}: 'when' must be a mapping of conditions")
            return ()
        for key, line in when.duplicate_keys:
            self.error(f"{when.file}:{line}", f"{label}: condition '{key}' appears twice")
        conditions: list[Condition] = []
        for key in when.values:
            if key not in CONDITION_KEYS:
                self.error(when.where(key), f"{label}: unknown condition '{key}' (known: {_listing(CONDITION_KEYS)})")
                continue
            condition = self.condition(when, key, label)
            if condition is not None:
                conditions.append(condition)
        return tuple(conditions)

    def condition(self, when: YamlMapping, key: str, label: str) -> Condition | None:
        line = when.line_of(key)
        if key == "time":
            return self.time_window(when, label)
        if key == "office_hours":
            value = when.get(key)
            if not isinstance(value, bool):
                self.error(when.where(key), f"{label}: office_hours must be true or false")
                return None
            return OfficeHoursCondition(line, value)
        values = self.string_list(when, key, label)
        if values is None:
            return None
        where = when.where(key)
        if key == "category":
            return self.category(where, line, values, label)
        if key == "district":
            if self.districts is not None:
                for district in values:
                    if district.casefold() not in self.districts:
                        self.error(where, f"{label}: unknown district '{district}'")
            return DistrictCondition(line, values)
        if key == "postcode":
            for postcode in values:
                if not _POSTCODE.match(postcode):
                    self.error(where, f"{label}: '{postcode}' is not a Belgian postcode (four digits)")
            return PostcodeCondition(line, values)
        if key == "street":
            return StreetCondition(line, values)
        if key == "weekdays":
            return self.weekdays(where, line, values, label)
        if key == "keywords":
            for keyword in values:
                stem = keyword[:-1] if keyword.endswith("*") else keyword
                if "*" in stem or not re.search(r"\w", stem):
                    self.error(
                        where,
                        f"{label}: keyword '{keyword}' must contain letters or digits and may only end in '*'",
                    )
            return KeywordCondition(line, values)
        return WasteFractionCondition(line, values)

    def string_list(self, when: YamlMapping, key: str, label: str) -> tuple[str, ...] | None:
        value = when.get(key)
        if not isinstance(value, list):
            self.error(when.where(key), f"{label}: '{key}' must be a list, e.g. {key}: [...]")
            return None
        if not value:
            self.error(when.where(key), f"{label}: '{key}' is an empty list: the rule could never match")
            return None
        items: list[str] = []
        for item in value:
            # A postcode written without quotes is a YAML int; any other non-string is a mistake.
            if isinstance(item, int) and not isinstance(item, bool) and key == "postcode":
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                self.error(when.where(key), f"{label}: '{key}' must list non-empty strings, got {item!r}")
                return None
            items.append(item.strip())
        return tuple(items)

    def category(self, where: str, line: int, patterns: tuple[str, ...], label: str) -> CategoryCondition | None:
        codes: set[str] = set()
        ok = True
        for pattern in patterns:
            if pattern.endswith(".*") and CATEGORY_CODE.match(pattern[:-2]):
                prefix = pattern[:-1]
                matched = {code for code in self.all_codes if code.startswith(prefix)}
                if not matched:
                    self.error(where, f"{label}: category wildcard '{pattern}' matches no category in the catalogue")
                    ok = False
                codes |= matched
            elif "*" in pattern:
                self.error(where, f"{label}: '{pattern}': only wildcards of the form 'prefix.*' are allowed")
                ok = False
            elif pattern not in self.all_codes:
                self.error(where, f"{label}: unknown category '{pattern}'")
                ok = False
            else:
                codes.add(pattern)
        return CategoryCondition(line, patterns, frozenset(codes)) if ok else None

    def weekdays(self, where: str, line: int, values: tuple[str, ...], label: str) -> WeekdayCondition | None:
        days: set[int] = set()
        for value in values:
            name = value.casefold()
            if name not in WEEKDAYS:
                self.error(where, f"{label}: unknown weekday '{value}' (use {_listing(WEEKDAYS)})")
                return None
            days.add(WEEKDAYS.index(name))
        return WeekdayCondition(line, frozenset(days))

    def time_window(self, when: YamlMapping, label: str) -> TimeCondition | None:
        window = when.mapping("time")
        if window is None:
            self.error(when.where("time"), f'{label}: time must be a mapping {{from: "HH:MM", to: "HH:MM"}}')
            return None
        before = len(self.errors)
        check_keys(window, f"{label}: time", ("from", "to"), (), self.errors)
        minutes: list[int] = []
        for key in ("from", "to"):
            if key not in window:
                continue
            # The text as written: unquoted 16:00 is the YAML 1.1 integer 960, but the author meant 16:00.
            raw = window.raw_scalar(key)
            found = _HHMM.match(raw) if raw is not None else None
            if found is None:
                self.error(window.where(key), f"{label}: time '{key}' must be a time HH:MM, got {window.get(key)!r}")
                continue
            minutes.append(int(found.group(1)) * 60 + int(found.group(2)))
        if len(self.errors) > before or len(minutes) != 2:
            return None
        start, end = minutes
        if start == end:
            self.error(when.where("time"), f"{label}: time window from {_hhmm(start)} to {_hhmm(end)} is empty")
            return None
        return TimeCondition(when.line_of("time"), start, end)

    # -- assignment --

    def assign(self, entry: YamlMapping, label: str) -> tuple[str, ...]:
        if "assign" not in entry:
            return ()
        value = entry.get("assign")
        where = entry.where("assign")
        if value == CATEGORY_DEFAULT:
            return (CATEGORY_DEFAULT,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(where, f'{label}: assign must be a list of assignee codes or "{CATEGORY_DEFAULT}"')
            return ()
        if not value:
            self.error(where, f"{label}: assign is empty: the report would be dropped")
            return ()
        for code in value:
            if code.startswith("@") and code != CATEGORY_DEFAULT:
                self.error(where, f"{label}: unknown token '{code}' (the only token is {CATEGORY_DEFAULT})")
            elif not code.startswith("@") and code not in self.catalogue.assignees:
                self.error(where, f"{label}: unknown assignee '{code}'")
        return tuple(value)

    # -- whole-rule and whole-file checks --

    def check_office_hours(self, rule: Rule, entry: YamlMapping, label: str) -> None:
        """Catch `office_hours: true` combined with days or hours when the ContactCenter is never open."""
        office = rule.condition("office_hours")
        if not isinstance(office, OfficeHoursCondition) or not office.open:
            return
        weekdays = rule.condition("weekdays")
        days = weekdays.days if isinstance(weekdays, WeekdayCondition) else frozenset(range(7))
        spans = {d: s for d, s in self.calendar.opening_hours.items() if d in days}
        where = f"{entry.file}:{office.line}"
        if not spans:
            self.error(
                where,
                f"{label}: can never match: office_hours is true but the ContactCenter is never open "
                f"on {_listing(WEEKDAYS[d] for d in sorted(days))}",
            )
            return
        window = rule.condition("time")
        if isinstance(window, TimeCondition):
            open_mask = 0
            for start, end in spans.values():
                open_mask |= sum(1 << m for m in range(start.hour * 60 + start.minute, end.hour * 60 + end.minute))
            if open_mask & window.mask == 0:
                self.error(
                    where,
                    f"{label}: can never match: office_hours is true but the ContactCenter is never "
                    f"open between {window.shown()}",
                )

    def check_catch_all(self, rules: list[Rule]) -> None:
        if not rules or not rules[-1].catch_all:
            line = rules[-1].line if rules else self.top.line_of("rules")
            self.error(
                f"{self.top.file}:{line}",
                f"the last rule must be a catch-all without conditions (e.g. assign: [{TRIAGE}]) "
                "so that every report is routed",
            )

    def check_shadowing(self, rules: list[Rule]) -> None:
        """A rule is dead if, for each category it can match, an earlier rule takes every report it would take."""
        for index, rule in enumerate(rules):
            blockers: dict[str, Rule] = {}
            for code in sorted(rule.categories):
                for earlier in rules[:index]:
                    if code in earlier.categories and _covers(earlier, rule):
                        blockers[code] = earlier
                        break
                else:
                    break
            else:
                names = _listing(f"'{r.id}' (line {r.line})" for r in dict.fromkeys(blockers.values()))
                self.error(
                    f"{self.top.file}:{rule.line}",
                    f"rule '{rule.id}' can never match: every report it matches is already taken by {names}",
                )


def _covers(earlier: Rule, later: Rule) -> bool:
    """True if every condition of `earlier` other than category lets through every report `later` lets through."""
    for condition in earlier.conditions:
        if condition.key == "category":
            continue
        if not condition.subsumes(later.condition(condition.key)):
            return False
    return True
