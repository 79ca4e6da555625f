"""A category's extra questions (Open311 `attributes`): typed like Open311's datatypes, validated answers.

Declared per category in `categories.yaml` under `attributes:` (see the file's header). Pure code: the
catalogue parses the declarations, `check_answers` validates a reporter's answers against them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
DATATYPES: tuple[Datatype, ...] = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_TYPES = ("singlevaluelist", "multivaluelist")
ATTRIBUTE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_STRING = 200
MAX_TEXT = 2000

_REQUIRED = ("code", "datatype", "description")
_OPTIONAL = ("required", "order", "values", "datatype_description", "variable")


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True)
class Attribute:
    """One extra question of a category."""

    code: str
    datatype: Datatype
    description: str
    required: bool = False
    order: int = 0
    values: tuple[AttributeValue, ...] = ()
    datatype_description: str = ""
    variable: bool = True


def parse_attributes(raw: Any, where: str, label: str, errors: list[str]) -> tuple[Attribute, ...]:
    """The declarations under a category's `attributes:`; problems go to `errors` as `where: label: ...`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append(f"{where}: {label}: 'attributes' must be a list")
        return ()
    attributes: list[Attribute] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.append(f"{where}: {label}: attribute {index + 1} must be a mapping")
            continue
        code = item.get("code")
        name = f"{label}: attribute '{code}'" if isinstance(code, str) else f"{label}: attribute {index + 1}"
        problems = [f"missing field '{k}'" for k in _REQUIRED if k not in item]
        problems += [f"unknown field '{k}'" for k in item if k not in _REQUIRED + _OPTIONAL]
        if isinstance(code, str) and not ATTRIBUTE_CODE.match(code):
            problems.append(f"code must match {ATTRIBUTE_CODE.pattern}")
        if isinstance(code, str) and code in seen:
            problems.append("appears twice")
        datatype = item.get("datatype")
        if datatype is not None and datatype not in DATATYPES:
            problems.append(f"datatype must be one of {', '.join(DATATYPES)}")
        description = item.get("description")
        if description is not None and (not isinstance(description, str) or not description.strip()):
            problems.append("description must be a non-empty string")
        required = item.get("required", False)
        if not isinstance(required, bool):
            problems.append("required must be true or false")
        order = item.get("order", index + 1)
        if isinstance(order, bool) or not isinstance(order, int):
            problems.append("order must be a whole number")
        values = _values(item.get("values"), problems)
        if datatype in LIST_TYPES and not values:
            problems.append(f"a {datatype} needs values: [{{key, name}}, ...]")
        if datatype not in LIST_TYPES and values:
            problems.append(f"values are only for {' and '.join(LIST_TYPES)}")
        if problems:
            errors.extend(f"{where}: {name}: {p}" for p in problems)
            continue
        seen.add(str(code))
        attributes.append(
            Attribute(
                code=str(code),
                datatype=cast(Datatype, datatype),
                description=str(description).strip(),
                required=required,
                order=order,
                values=values,
                datatype_description=str(item.get("datatype_description") or ""),
                variable=bool(item.get("variable", True)),
            )
        )
    return tuple(sorted(attributes, key=lambda a: (a.order, a.code)))


def _values(raw: Any, problems: list[str]) -> tuple[AttributeValue, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("values must be a list of {key, name}")
        return ()
    out: list[AttributeValue] = []
    for value in raw:
        if not isinstance(value, dict) or not {"key", "name"} <= set(value):
            problems.append("each value needs a key and a name")
            continue
        out.append(AttributeValue(str(value["key"]), str(value["name"])))
    if len({v.key for v in out}) != len(out):
        problems.append("a value key appears twice")
    return tuple(out)


class AnswerError(ValueError):
    """An answer to an extra question is missing or invalid; the message names the question."""


def check_answers(
    attributes: Sequence[Attribute], answers: Mapping[str, str | list[str]]
) -> dict[str, str | list[str]]:
    """The answers, normalised (stripped, lists for multi-value questions, unknown codes refused).

    Raises AnswerError with the first problem: a required question without an answer, a value not in its
    list, a number or date that is none, an unknown question.
    """
    by_code = {a.code: a for a in attributes}
    for code in answers:
        if code not in by_code:
            raise AnswerError(f"attribute[{code}] is not a question of this service")
    out: dict[str, str | list[str]] = {}
    for attribute in attributes:
        raw = answers.get(attribute.code)
        values = [raw] if isinstance(raw, str) else list(raw or [])
        values = [v.strip() for v in values if v and v.strip()]
        if not values:
            if attribute.required:
                raise AnswerError(f"attribute[{attribute.code}] is required: {attribute.description}")
            continue
        if attribute.datatype != "multivaluelist" and len(values) > 1:
            raise AnswerError(f"attribute[{attribute.code}] takes one value")
        if attribute.datatype in LIST_TYPES:
            keys = {v.key for v in attribute.values}
            for value in values:
                if value not in keys:
                    raise AnswerError(f"attribute[{attribute.code}]: '{value}' is not one of {', '.join(sorted(keys))}")
            out[attribute.code] = values if attribute.datatype == "multivaluelist" else values[0]
            continue
        value = values[0]
        if attribute.datatype == "number":
            try:
                float(value)
            except ValueError:
                raise AnswerError(f"attribute[{attribute.code}] must be a number") from None
        elif attribute.datatype == "datetime":
            try:
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise AnswerError(f"attribute[{attribute.code}] must be an ISO 8601 date and time") from None
        limit = MAX_TEXT if attribute.datatype == "text" else MAX_STRING
        if len(value) > limit:
            raise AnswerError(f"attribute[{attribute.code}] is longer than {limit} characters")
        out[attribute.code] = value
    return out
