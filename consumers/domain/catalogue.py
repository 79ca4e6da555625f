"""The category and assignee catalogues: what citizens can report, and who can receive work orders.

Pure code: load both YAML files once with `Catalogue.load`, then ask it questions. Every validation error
names the file and the line, because the people who edit these files are not the people who read tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from consumers.domain.attributes import Attribute, parse_attributes

TRIAGE = "contact_center_triage"
"""The assignee that receives whatever no rule or catalogue entry can place: it must always exist."""

FALLBACK_CATEGORY = "other"
"""The category whose SLA applies to reports with an unknown category: it must always exist."""

ASSIGNEE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# Same pattern as ReportFiled.category, so every catalogue code is a code a report can carry.
CATEGORY_CODE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")

AssigneeKind = Literal["department", "contractor"]
Channel = Literal["queue", "webhook", "email"]
_KINDS: tuple[AssigneeKind, ...] = ("department", "contractor")
_CHANNELS: tuple[Channel, ...] = ("queue", "webhook", "email")


class ConfigFileError(ValueError):
    """A configuration file is invalid; `errors` holds one `file:line: message` string per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = list(errors)
        if len(self.errors) == 1:
            message = self.errors[0]
        else:
            message = f"{len(self.errors)} errors in {source}:\n" + "\n".join(f"  {e}" for e in self.errors)
        super().__init__(message)


class CatalogueError(ConfigFileError):
    """The category or assignee catalogue is invalid."""


_E = TypeVar("_E", bound=ConfigFileError)


# --- YAML with line numbers ----------------------------------------------------------------------------------------


def _construct(node: Node) -> Any:
    # A fresh constructor per node: SafeConstructor keeps per-document state that must not leak between calls.
    return SafeConstructor().construct_document(node)


@dataclass(frozen=True)
class YamlMapping:
    """One mapping of a YAML file with the line of every key, so errors can say `file:line`."""

    file: str
    line: int
    values: Mapping[str, Any]
    key_lines: Mapping[str, int]
    nodes: Mapping[str, Node]
    duplicate_keys: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_node(cls, file: str, node: MappingNode) -> YamlMapping:
        values: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        nodes: dict[str, Node] = {}
        duplicates: list[tuple[str, int]] = []
        for key_node, value_node in node.value:
            key = str(_construct(key_node))
            if key in values:
                # PyYAML silently keeps the last of two equal keys; in a rule that hides a condition.
                duplicates.append((key, key_node.start_mark.line + 1))
            values[key] = _construct(value_node)
            key_lines[key] = key_node.start_mark.line + 1
            nodes[key] = value_node
        return cls(
            file=file,
            line=node.start_mark.line + 1,
            values=values,
            key_lines=key_lines,
            nodes=nodes,
            duplicate_keys=tuple(duplicates),
        )

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def where(self, key: str | None = None) -> str:
        return f"{self.file}:{self.line if key is None else self.line_of(key)}"

    def raw_scalar(self, key: str) -> str | None:
        """The text of a scalar as written: `16:00` unquoted is a YAML 1.1 sexagesimal int, not a time."""
        node = self.nodes.get(key)
        return node.value if isinstance(node, ScalarNode) else None

    def mapping(self, key: str) -> YamlMapping | None:
        node = self.nodes.get(key)
        return YamlMapping.from_node(self.file, node) if isinstance(node, MappingNode) else None

    def sequence(self, key: str) -> Iterator[tuple[int, YamlMapping | None]]:
        """The items of a sequence of mappings, each with its line; None for an item that is not a mapping."""
        node = self.nodes.get(key)
        if not isinstance(node, SequenceNode):
            return
        for item in node.value:
            line = item.start_mark.line + 1
            yield line, YamlMapping.from_node(self.file, item) if isinstance(item, MappingNode) else None


def read_yaml_mapping(path: Path, error: type[_E]) -> YamlMapping:
    """Parse a YAML file whose document is a mapping; syntax errors become `error` with the line."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"{name}: cannot read: {exc.strerror or exc}"]) from exc
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise error(str(path), [f"{name}:{line}: invalid YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise error(str(path), [f"{name}:1: invalid YAML: {exc}"]) from exc
    finally:
        loader.dispose()
    if root is None:
        raise error(str(path), [f"{name}:1: the file is empty"])
    if not isinstance(root, MappingNode):
        raise error(str(path), [f"{name}:{root.start_mark.line + 1}: the file must be a mapping at the top level"])
    return YamlMapping.from_node(name, root)


def check_keys(
    entry: YamlMapping, label: str, required: tuple[str, ...], optional: tuple[str, ...], errors: list[str]
) -> None:
    """Report missing and unknown keys: a typo in an optional key must not silently disable it."""
    for key, line in entry.duplicate_keys:
        errors.append(f"{entry.file}:{line}: {label}: key '{key}' appears twice")
    for key in required:
        if key not in entry:
            errors.append(f"{entry.where()}: {label}: missing field '{key}'")
    allowed = set(required) | set(optional)
    for key in entry.values:
        if key not in allowed:
            errors.append(f"{entry.where(key)}: {label}: unknown field '{key}' (allowed: {', '.join(sorted(allowed))})")


def _version(top: YamlMapping, errors: list[str]) -> str:
    version = top.get("version")
    if version is None:
        errors.append(f"{top.file}:1: missing top-level 'version'")
        return "unversioned"
    # Unquoted, 2026-11-28 is a YAML date and 1.10 the float 1.1: only a quoted string survives as written.
    if not isinstance(version, str) or not version.strip():
        errors.append(f"{top.where('version')}: 'version' must be a quoted string, e.g. version: \"2026-11-28.1\"")
        return "unversioned"
    return version.strip()


def _is_int(value: Any) -> bool:
    # bool is an int in Python; `sla_working_days: yes` must not read as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _text(entry: YamlMapping, key: str, label: str, errors: list[str], *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None:
        return None  # a missing required field was already reported by check_keys
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{entry.where(key)}: {label}: '{key}' must be a non-empty string")
        return None
    return value.strip()


def _flag(entry: YamlMapping, key: str, label: str, errors: list[str]) -> bool:
    value = entry.get(key)
    if value is not None and not isinstance(value, bool):
        errors.append(f"{entry.where(key)}: {label}: '{key}' must be true or false")
    return value is True


def _code_list(entry: YamlMapping, key: str, label: str, errors: list[str]) -> tuple[str, ...] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(f"{entry.where(key)}: {label}: '{key}' must be a list of strings")
        return None
    return tuple(v.strip() for v in value)


# --- The model -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldRule:
    """How a category's reports fold into a live incident's one work order per assignee (`fold` in categories.yaml).

    A report keeps its own order when it lies more than `max_distance_m` from the incident's streets (when both
    have coordinates in places.yaml), or when its description names one of `keep_keywords` (something else than
    the incident: a broken container is not a missed round).
    """

    max_distance_m: float | None = None
    keep_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    """A report category: names, default assignees, SLA and whether incidents of it come in spikes."""

    code: str
    name_nl: str
    name_en: str
    default_assignees: tuple[str, ...]
    sla_working_days: int
    spike_prone: bool
    call_subjects: tuple[str, ...] = ()
    line: int = 0
    # Extra questions asked of the reporter (Open311 attributes), in their order.
    attributes: tuple[Attribute, ...] = ()
    description: str = ""
    keywords: tuple[str, ...] = ()
    # Opt-in: while an incident of this category is live, its reports fold into one incident order per assignee.
    fold: FoldRule | None = None
    # Optional French name (the consoles' third language); "" when the catalogue has none.
    name_fr: str = ""

    def name(self, language: str) -> str:
        """The name in `language` (nl, en, fr), the Dutch one when the catalogue has none in that language."""
        named = {"en": self.name_en, "fr": self.name_fr}.get(language)
        return named or self.name_nl

    @property
    def group(self) -> str:
        """The first part of the code (`waste` of `waste.missed_collection`): Open311's service group."""
        return self.code.split(".", 1)[0]


@dataclass(frozen=True)
class Assignee:
    """A department or contractor that receives work orders on queue `workorders.<code>`."""

    code: str
    name: str
    kind: AssigneeKind
    channel: Channel
    may_see_contact: bool
    ack_hours: float
    email: str | None = None
    webhook_url: str | None = None
    responsible_department: str | None = None
    line: int = 0

    @property
    def is_contractor(self) -> bool:
        return self.kind == "contractor"

    @property
    def queue(self) -> str:
        return f"workorders.{self.code}"


@dataclass(frozen=True)
class Catalogue:
    """Categories and assignees, validated against each other."""

    categories: Mapping[str, Category]
    assignees: Mapping[str, Assignee]
    categories_version: str = "unversioned"
    assignees_version: str = "unversioned"
    _by_call_subject: Mapping[str, Category] = field(default_factory=dict, repr=False, compare=False)

    def category(self, code: str) -> Category | None:
        return self.categories.get(code)

    def assignee(self, code: str) -> Assignee:
        """The assignee with this code; KeyError if the catalogue has none (rules are validated against it)."""
        try:
            return self.assignees[code]
        except KeyError:
            raise KeyError(f"unknown assignee '{code}'") from None

    def category_for_call_subject(self, subject: str) -> Category | None:
        """The category a call subject counts as (its code or one of its `call_subjects`), if any."""
        return self._by_call_subject.get(subject)

    @classmethod
    def load(cls, categories_path: Path, assignees_path: Path) -> Catalogue:
        errors: list[str] = []
        assignees_top = read_yaml_mapping(assignees_path, CatalogueError)
        categories_top = read_yaml_mapping(categories_path, CatalogueError)
        assignees_version = _version(assignees_top, errors)
        categories_version = _version(categories_top, errors)
        assignees = _load_assignees(assignees_top, errors)
        categories = _load_categories(categories_top, assignees, errors)

        if TRIAGE not in assignees and "assignees" in assignees_top:
            errors.append(f"{assignees_top.where('assignees')}: assignee '{TRIAGE}' is required (the safety net)")
        if FALLBACK_CATEGORY not in categories and "categories" in categories_top:
            errors.append(
                f"{categories_top.where('categories')}: category '{FALLBACK_CATEGORY}' is required "
                "(its SLA applies to unknown categories)"
            )
        by_subject: dict[str, Category] = {}
        for category in categories.values():
            for subject in (category.code, *category.call_subjects):
                other = by_subject.get(subject)
                if other is not None and other.code != category.code:
                    errors.append(
                        f"{categories_top.file}:{category.line}: category '{category.code}': call subject "
                        f"'{subject}' already counts as '{other.code}' (line {other.line})"
                    )
                by_subject.setdefault(subject, category)
        if errors:
            raise CatalogueError(f"{categories_path} + {assignees_path}", errors)
        return cls(
            categories=MappingProxyType(categories),
            assignees=MappingProxyType(assignees),
            categories_version=categories_version,
            assignees_version=assignees_version,
            _by_call_subject=MappingProxyType(by_subject),
        )


def _entries(top: YamlMapping, key: str, errors: list[str]) -> Iterator[tuple[int, YamlMapping]]:
    for other in top.values:
        if other not in ("version", key):
            errors.append(f"{top.where(other)}: unknown top-level key '{other}'")
    for duplicate, line in top.duplicate_keys:
        errors.append(f"{top.file}:{line}: top-level key '{duplicate}' appears twice")
    if key not in top:
        errors.append(f"{top.file}:1: missing top-level '{key}' list")
        return
    if not isinstance(top.get(key), list):
        errors.append(f"{top.where(key)}: '{key}' must be a list")
        return
    for line, entry in top.sequence(key):
        if entry is None:
            errors.append(f"{top.file}:{line}: each entry of '{key}' must be a mapping")
        else:
            yield line, entry


def _code_ok(
    entry: YamlMapping,
    label: str,
    pattern: re.Pattern[str],
    what: str,
    seen: Mapping[str, Assignee] | Mapping[str, Category],
    errors: list[str],
) -> bool:
    """Whether an entry's `code` (when given) matches its pattern and is not taken by an earlier entry."""
    code = entry.get("code")
    if code is not None and (not isinstance(code, str) or not pattern.match(code)):
        errors.append(f"{entry.where('code')}: {label}: code must match {pattern.pattern}")
        return False
    if isinstance(code, str) and code in seen:
        errors.append(f"{entry.where('code')}: duplicate {what} code '{code}' (first at line {seen[code].line})")
        return False
    return True


def _one_of(entry: YamlMapping, key: str, allowed: Sequence[str], label: str, errors: list[str]) -> bool:
    """Whether `key` (when given) is one of the allowed words."""
    value = entry.get(key)
    if value is not None and value not in allowed:
        errors.append(f"{entry.where(key)}: {label}: {key} must be one of {', '.join(allowed)}")
        return False
    return True


_ASSIGNEE_REQUIRED = ("code", "name", "kind", "channel", "may_see_contact", "ack_hours")
_ASSIGNEE_OPTIONAL = ("email", "webhook_url", "responsible_department")


def _load_assignees(top: YamlMapping, errors: list[str]) -> dict[str, Assignee]:
    assignees: dict[str, Assignee] = {}
    owners: list[tuple[YamlMapping, str, str]] = []
    for line, entry in _entries(top, "assignees", errors):
        code = entry.get("code")
        label = f"assignee '{code}'" if isinstance(code, str) else f"assignee at line {line}"
        check_keys(entry, label, _ASSIGNEE_REQUIRED, _ASSIGNEE_OPTIONAL, errors)
        ok = _code_ok(entry, label, ASSIGNEE_CODE, "assignee", assignees, errors)
        name = _text(entry, "name", label, errors)
        kind = entry.get("kind")
        ok = _one_of(entry, "kind", _KINDS, label, errors) and ok
        channel = entry.get("channel")
        ok = _one_of(entry, "channel", _CHANNELS, label, errors) and ok
        may_see_contact = _flag(entry, "may_see_contact", label, errors)
        ack_hours = entry.get("ack_hours")
        if ack_hours is not None and (isinstance(ack_hours, bool) or not isinstance(ack_hours, int | float)):
            errors.append(f"{entry.where('ack_hours')}: {label}: ack_hours must be a number of hours")
            ok = False
        elif ack_hours is not None and ack_hours <= 0:
            errors.append(f"{entry.where('ack_hours')}: {label}: ack_hours must be positive")
            ok = False
        email = _text(entry, "email", label, errors)
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            errors.append(f"{entry.where('email')}: {label}: '{email}' is not an e-mail address")
        webhook_url = _text(entry, "webhook_url", label, errors)
        # Webhooks carry citizens' reports: plain HTTP only to the local machine, for development.
        if webhook_url is not None and not re.match(r"https://|http://(localhost|127\.0\.0\.1)[:/]", webhook_url):
            errors.append(f"{entry.where('webhook_url')}: {label}: webhook_url must be an https:// URL")
        if channel == "webhook" and webhook_url is None and "webhook_url" not in entry:
            errors.append(f"{entry.where('channel')}: {label}: channel 'webhook' needs a webhook_url")
        if channel == "email" and email is None and "email" not in entry:
            errors.append(f"{entry.where('channel')}: {label}: channel 'email' needs an email address")
        responsible = _text(entry, "responsible_department", label, errors)
        if responsible is not None:
            owners.append((entry, cast(str, code), responsible))
        if ok and all(k in entry for k in _ASSIGNEE_REQUIRED) and name is not None:
            assignees[code] = Assignee(
                code=code,
                name=name,
                kind=kind,
                channel=channel,
                may_see_contact=may_see_contact,
                ack_hours=float(ack_hours),
                email=email,
                webhook_url=webhook_url,
                responsible_department=responsible,
                line=line,
            )
    for entry, code, responsible in owners:
        owner = assignees.get(responsible)
        if owner is None or owner.kind != "department":
            errors.append(
                f"{entry.where('responsible_department')}: assignee '{code}': responsible_department "
                f"'{responsible}' is not a department in this catalogue"
            )
    return assignees


_CATEGORY_REQUIRED = ("code", "name_nl", "name_en", "default_assignees", "sla_working_days", "spike_prone")
_CATEGORY_OPTIONAL = ("name_fr", "call_subjects", "attributes", "description", "keywords", "fold")


def _fold_rule(entry: YamlMapping, label: str, errors: list[str]) -> FoldRule | None:
    value = entry.get("fold")
    if value is None or value is False:
        return None
    if value is True:
        return FoldRule()
    where = entry.where("fold")
    if not isinstance(value, Mapping) or set(value) - {"max_distance_m", "keep_keywords"}:
        errors.append(f"{where}: {label}: 'fold' must be true or a mapping of max_distance_m and keep_keywords")
        return None
    distance = value.get("max_distance_m")
    if distance is not None and (isinstance(distance, bool) or not isinstance(distance, int | float) or distance <= 0):
        errors.append(f"{where}: {label}: fold.max_distance_m must be a positive number of metres")
        return None
    keywords = value.get("keep_keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        errors.append(f"{where}: {label}: fold.keep_keywords must be a list of words")
        return None
    return FoldRule(float(distance) if distance is not None else None, tuple(k.strip().casefold() for k in keywords))


def _load_categories(top: YamlMapping, assignees: Mapping[str, Assignee], errors: list[str]) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for line, entry in _entries(top, "categories", errors):
        code = entry.get("code")
        label = f"category '{code}'" if isinstance(code, str) else f"category at line {line}"
        check_keys(entry, label, _CATEGORY_REQUIRED, _CATEGORY_OPTIONAL, errors)
        ok = _code_ok(entry, label, CATEGORY_CODE, "category", categories, errors)
        name_nl = _text(entry, "name_nl", label, errors)
        name_en = _text(entry, "name_en", label, errors)
        name_fr = _text(entry, "name_fr", label, errors) or ""
        defaults = _code_list(entry, "default_assignees", label, errors)
        if defaults is not None:
            if not defaults:
                errors.append(f"{entry.where('default_assignees')}: {label}: default_assignees must not be empty")
            for assignee in defaults:
                if assignee not in assignees:
                    errors.append(f"{entry.where('default_assignees')}: {label}: unknown default assignee '{assignee}'")
            if len(set(defaults)) != len(defaults):
                errors.append(f"{entry.where('default_assignees')}: {label}: default_assignees lists an assignee twice")
        sla = entry.get("sla_working_days")
        if sla is not None and not _is_int(sla):
            errors.append(f"{entry.where('sla_working_days')}: {label}: sla_working_days must be a whole number")
            ok = False
        elif sla is not None and sla < 0:
            errors.append(f"{entry.where('sla_working_days')}: {label}: sla_working_days must not be negative ({sla})")
            ok = False
        spike_prone = _flag(entry, "spike_prone", label, errors)
        subjects = _code_list(entry, "call_subjects", label, errors) or ()
        attributes = parse_attributes(entry.get("attributes"), entry.where("attributes"), label, errors)
        description = _text(entry, "description", label, errors) or ""
        keywords = _code_list(entry, "keywords", label, errors) or ()
        fold = _fold_rule(entry, label, errors)
        if ok and all(k in entry for k in _CATEGORY_REQUIRED) and name_nl and name_en and defaults:
            categories[code] = Category(
                code=code,
                name_nl=name_nl,
                name_en=name_en,
                default_assignees=defaults,
                sla_working_days=sla,
                spike_prone=spike_prone,
                call_subjects=subjects,
                line=line,
                attributes=attributes,
                description=description,
                keywords=keywords,
                fold=fold,
                name_fr=name_fr,
            )
    return categories
