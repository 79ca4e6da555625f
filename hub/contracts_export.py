"""`hub contracts export DIR`: one JSON Schema per message and the AsyncAPI 3 document FastStream generates."""

from __future__ import annotations

import json
from pathlib import Path

from faststream.specification.base.specification import Specification

from contracts import ALL_CONTRACTS
from hub.settings import Settings

PUBLIC_AMQP_URL = "amqp://rabbitmq:5672/"


def render_contracts(settings: Settings) -> dict[str, str]:
    """File name -> content, deterministic (sorted keys, trailing newline)."""
    files: dict[str, str] = {}
    for model in ALL_CONTRACTS:
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:city-contact-hub:{model.ce_type}"
        schema["x-cloudevents-type"] = model.ce_type
        schema["x-routing-key"] = model.routing_key
        schema["x-schema-version"] = f"{model.schema_version}.{model.schema_minor_version}"
        files[f"{model.__name__}.v{model.schema_version}.schema.json"] = (
            json.dumps(schema, indent=2, sort_keys=True) + "\n"
        )
    spec = json.loads(public_specification(settings).to_json())
    files["asyncapi.json"] = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return files


def public_specification(settings: Settings) -> Specification:
    """The AsyncAPI document FastStream generates from the consumers, naming the public broker address."""
    from hub.app import asyncapi
    from hub.bootstrap import build_hub
    from hub.topology import CONSUMERS

    # The document names the broker city systems connect to, not this machine's test broker.
    public = settings.model_copy(update={"amqp_url": PUBLIC_AMQP_URL})
    hub = build_hub(public, consumers=CONSUMERS, with_relay=False)
    return asyncapi(hub.broker).to_specification()


def export_contracts(directory: Path, settings: Settings) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_contracts(settings).items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
