"""Loading and validating a routing rule file: every problem reported with its line, none stops the others."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import (
    CATEGORY_CODE,
    TRIAGE,
    Catalogue,
    ConfigFileError,
    YamlMapping,
    check_keys,
    read_yaml_mapping,
)
from consumers.router.conditions import (
    CATEGORY_DEFAULT,
    CONDITION_KEYS,
    HHMM,
    POSTCODE,
    RULE_ID,
    UNKNOWN_CATEGORY_RULE_ID,
    WEEKDAYS,
    CategoryCondition,
    Condition,
    DistrictCondition,
    KeywordCondition,
    OfficeHoursCondition,
    PostcodeCondition,
    Rule,
    StreetCondition,
    TimeCondition,
    WasteFractionCondition,
    WeekdayCondition,
    hhmm,
    listing,
)


class RuleFileError(ConfigFileError):
    """The routing rule file is invalid; `errors` lists every problem as `routing_rules.yaml:<line>: ...`."""


def district_names(path: Path) -> frozenset[str]:
    """The district names of a `districts.yaml`, to pass as `known_districts` to `RuleSet.load`."""
    top = read_yaml_mapping(path, RuleFileError)
    districts = top.get("districts")
    if not isinstance(districts, dict):
        raise RuleFileError(str(path), [f"{top.where('districts')}: 'districts' must be a mapping of names"])
    return frozenset(str(name) for name in districts)


class RuleFileLoader:
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
                self.error(when.where(key), f"{label}: unknown condition '{key}' (known: {listing(CONDITION_KEYS)})")
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
                if not POSTCODE.match(postcode):
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
                self.error(where, f"{label}: unknown weekday '{value}' (use {listing(WEEKDAYS)})")
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
            found = HHMM.match(raw) if raw is not None else None
            if found is None:
                self.error(window.where(key), f"{label}: time '{key}' must be a time HH:MM, got {window.get(key)!r}")
                continue
            minutes.append(int(found.group(1)) * 60 + int(found.group(2)))
        if len(self.errors) > before or len(minutes) != 2:
            return None
        start, end = minutes
        if start == end:
            self.error(when.where("time"), f"{label}: time window from {hhmm(start)} to {hhmm(end)} is empty")
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
                f"on {listing(WEEKDAYS[d] for d in sorted(days))}",
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
                names = listing(f"'{r.id}' (line {r.line})" for r in dict.fromkeys(blockers.values()))
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
