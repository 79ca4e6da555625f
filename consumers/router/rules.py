"""Routing rules: an ordered list, first match wins, over category, place, time and words of a report.

The rule file is validated completely at load time (every problem reported with its line), and compiled into
an index per category so that evaluating a report is a handful of set lookups: the router evaluates
thousands of reports a second on storm days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import (
    TRIAGE,
    Catalogue,
    read_yaml_mapping,
)
from consumers.router.conditions import CATEGORY_DEFAULT, UNKNOWN_CATEGORY_RULE_ID, Condition, Facts, Rule, listing
from consumers.router.rule_file import RuleFileError, RuleFileLoader, district_names
from contracts.reports import ReportFiled

__all__ = [
    "CATEGORY_DEFAULT",
    "UNKNOWN_CATEGORY_RULE_ID",
    "RoutingDecision",
    "Rule",
    "RuleCheck",
    "RuleFileError",
    "RuleSet",
    "district_names",
]


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
        loader = RuleFileLoader(top, catalogue, calendar, known_districts, errors)
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
        facts = Facts(report, self._calendar)
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
        facts = Facts(report, self._calendar)
        checks: list[RuleCheck] = []
        for rule in self.rules:
            failed = next((c for c in rule.conditions if not c.matches(facts)), None)
            if failed is None:
                checks.append(RuleCheck(rule.id, rule.line, True, "; ".join(self._reasons(rule, facts))))
                break
            checks.append(RuleCheck(rule.id, rule.line, False, f"line {failed.line}: {failed.miss(facts)}"))
        return tuple(checks)

    def _reasons(self, rule: Rule, facts: Facts) -> tuple[str, ...]:
        reasons = [condition.hit(facts) for condition in rule.conditions]
        if rule.catch_all:
            reasons.append(f"rule '{rule.id}' has no conditions: it takes every report no earlier rule took")
        if CATEGORY_DEFAULT in rule.assign:
            category = self._catalogue.category(facts.report.category)
            if category is not None:
                reasons.append(f"{CATEGORY_DEFAULT} of '{category.code}' is {listing(category.default_assignees)}")
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
