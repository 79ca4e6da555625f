"""Structured JSON log lines: ids and outcomes, never a citizen's name, phone or e-mail."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
        return json.dumps(line, default=str, ensure_ascii=False)


class _ConsumersTag(logging.Filter):
    """Tags every line of a `hub run --workers N` child (and of its supervisor) with the consumers it runs."""

    def __init__(self, consumers: str) -> None:
        super().__init__()
        self.consumers = consumers

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "consumers"):
            record.consumers = self.consumers
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = True, consumers: str | None = None) -> None:
    handler = logging.StreamHandler()
    text = "%(asctime)s %(levelname)s [%(consumers)s] %(name)s %(message)s" if consumers else None
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter(text or "%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    if consumers:
        handler.addFilter(_ConsumersTag(consumers))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # FastStream logs every delivery itself; our delivery policy writes the one line per message we want.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
