"""The public message contract: complete, documented, and the committed exports in step with the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from contracts import ALL_CONTRACTS, Contract
from hub.contracts_export import render_contracts
from hub.settings import Settings

pytestmark = pytest.mark.unit

EXPORT_DIR = Path(__file__).resolve().parents[2] / "docs" / "contracts"


@pytest.mark.parametrize("model", ALL_CONTRACTS, ids=lambda m: m.__name__)
def test_every_field_is_described_and_the_example_is_valid(model: type[Contract]) -> None:
    schema = model.model_json_schema()
    undocumented = [name for name, prop in schema["properties"].items() if "description" not in prop]
    assert undocumented == []
    examples = schema.get("examples") or []
    assert examples, f"{model.__name__} has no example"
    for example in examples:
        instance = model.model_validate(example)
        # The example is complete: every field of the model appears in it.
        assert set(example) == set(model.model_fields), set(model.model_fields) ^ set(example)
        Draft202012Validator(schema).validate(json.loads(instance.model_dump_json()))


@pytest.mark.parametrize("model", ALL_CONTRACTS, ids=lambda m: m.__name__)
def test_unknown_fields_and_naive_times_are_refused(model: type[Contract]) -> None:
    example = dict(model.model_json_schema()["examples"][0])
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        model.model_validate({**example, "unexpected": 1})
    times = [k for k, v in example.items() if isinstance(v, str) and v[:4].isdigit() and "T" in v and v.endswith(":00")]
    for key in times:
        with pytest.raises(ValueError, match="timezone"):
            model.model_validate({**example, key: example[key][:19]})


def test_committed_exports_match_the_code() -> None:
    rendered = render_contracts(Settings())
    stale = [
        name
        for name, content in rendered.items()
        if not (EXPORT_DIR / name).is_file() or (EXPORT_DIR / name).read_text() != content
    ]
    extra = sorted(p.name for p in EXPORT_DIR.glob("*.json") if p.name not in rendered)
    hint = "run `hub contracts export docs/contracts`"
    assert not stale, f"docs/contracts is stale: {stale}: {hint}"
    assert not extra, f"docs/contracts has files the code no longer makes: {extra}: {hint}"


def test_asyncapi_document_describes_the_public_channels() -> None:
    spec = json.loads((EXPORT_DIR / "asyncapi.json").read_text())
    assert spec["asyncapi"].startswith("3.")
    schemas = spec["components"]["schemas"]
    assert {"ReportFiled", "WorkOrderIssued"} <= set(schemas)
    assert "description" in schemas["ReportFiled"]["properties"]["category"]
