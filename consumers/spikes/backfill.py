"""`hub spikes backfill FILE`: a city's history into the spike counts, judged never, so the baseline is ready on day one.

Formats (by the file name; `.gz` is read compressed):

* JSON Lines (`.jsonl`, `.json`, `.ndjson`): one message of the public contract per line, a `CallLogged` or a
  `ReportFiled` as published, bare or wrapped the way `hub simulate` writes it (`{"record": "event",
  "routing_key": ..., "data": {...}}`) or as a structured CloudEvent (`{"type": ..., "data": {...}}`).
  Other records (the simulator's planted incidents) are skipped.
* CSV (`.csv`) with a header row and the columns `time, category, district, street, channel`: `time` ISO 8601
  (city time when it carries no offset), `category` a report category code, `street` optional, `channel`
  one of phone, web, app, email (a report) or `call` (a call about the category without a report; it counts
  toward the district only, as calls carry no street). Extra columns are ignored.

Each contact is counted once, ever: a message by its call or report id (as the consumer counts it, so a
backfilled report that later also arrives live is not counted twice), a CSV row by a digest of its values
and how often the same values occurred before it in the file. A second run therefore changes nothing.
Nothing is published and no alert is recorded; the consumer fits the day's baseline again at its next step.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from consumers.spikes.config import SpikeConfig
from consumers.spikes.detector import IncidentKey, Increment, bucket_start
from consumers.spikes.engine import Observation, observe
from consumers.spikes.store import ContactFact
from contracts import CallLogged, ReportFiled

CSV_COLUMNS = ("time", "category", "district", "street", "channel")
REPORT_CHANNELS = frozenset({"phone", "web", "app", "email"})
CALL_CHANNEL = "call"


class BackfillError(ValueError):
    """A line of the history file cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class Contact:
    """One historical contact: its row in `spike_contacts` and its counter increments."""

    fact: ContactFact
    observation: Observation


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last == ".csv":
        return "csv"
    if last in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise BackfillError(f"{path.name}: unknown format (expected .jsonl, .json, .ndjson or .csv, optionally .gz)")


def read_contacts(
    path: Path,
    config: SpikeConfig,
    category_of: Callable[[str], str | None] | None,
    *,
    on_line: Callable[[int], None] | None = None,
) -> Iterator[Contact | None]:
    """The file's contacts in file order; None for a line that counts nowhere (a service call, an incident)."""
    kind = _format(path)
    with _open(path) as handle:
        if kind == "csv":
            yield from _csv(handle, config, on_line)
        else:
            yield from _jsonl(handle, config, category_of, on_line)


def _jsonl(
    handle: IO[str],
    config: SpikeConfig,
    category_of: Callable[[str], str | None] | None,
    on_line: Callable[[int], None] | None,
) -> Iterator[Contact | None]:
    from consumers.spikes.handler import contact_of

    for number, line in enumerate(handle, start=1):
        if on_line is not None:
            on_line(len(line.encode("utf-8")))
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackfillError(f"line {number}: not JSON ({exc.msg})") from exc
        message = _message(record, number)
        if message is None:
            yield None
            continue
        message_id = f"call:{message.call_id}" if isinstance(message, CallLogged) else f"report:{message.report_id}"
        observation = observe(message, message_id, config, category_of)
        fact = contact_of(message, observation)
        yield None if fact is None else Contact(fact, observation)


def _message(record: Any, number: int) -> CallLogged | ReportFiled | None:
    if not isinstance(record, dict):
        raise BackfillError(f"line {number}: expected a JSON object")
    if record.get("record") not in (None, "event"):
        return None  # the simulator's planted incidents
    data = record.get("data", record)
    hint = str(record.get("routing_key") or record.get("type") or "")
    is_call = "call.logged" in hint or (not hint and isinstance(data, dict) and "started_at" in data)
    is_report = "report.filed" in hint or (not hint and isinstance(data, dict) and "filed_at" in data)
    try:
        if is_call:
            return CallLogged.model_validate(data)
        if is_report:
            return ReportFiled.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BackfillError(f"line {number}: not a valid message ({where}: {first['msg']})") from exc
    raise BackfillError(f"line {number}: neither a call.logged nor a report.filed message")


def _csv(handle: IO[str], config: SpikeConfig, on_line: Callable[[int], None] | None) -> Iterator[Contact | None]:
    reader = csv.DictReader(handle)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header and c != "street"]
    if missing:
        raise BackfillError(f"CSV header lacks {', '.join(missing)} (columns: {', '.join(CSV_COLUMNS)})")
    reader.fieldnames = header
    tz = ZoneInfo(config.timezone)
    seen: Counter[tuple[str, ...]] = Counter()
    for number, row in enumerate(reader, start=2):
        if on_line is not None:
            on_line(sum(len(str(v or "")) + 1 for v in row.values()))
        values = tuple((row.get(c) or "").strip() for c in CSV_COLUMNS)
        if not any(values):
            continue
        yield _csv_contact(values, seen, tz, config, number)


def _csv_contact(
    values: tuple[str, ...], seen: Counter[tuple[str, ...]], tz: ZoneInfo, config: SpikeConfig, number: int
) -> Contact:
    time_text, category, district, street, channel = values
    channel = channel.lower()
    if not category or not district:
        raise BackfillError(f"line {number}: category and district are required")
    if channel not in REPORT_CHANNELS and channel != CALL_CHANNEL:
        raise BackfillError(f"line {number}: channel {channel!r} is not one of call, phone, web, app, email")
    try:
        at = dt.datetime.fromisoformat(time_text)
    except ValueError as exc:
        raise BackfillError(f"line {number}: time {time_text!r} is not ISO 8601") from exc
    at = (at if at.tzinfo is not None else at.replace(tzinfo=tz)).astimezone(dt.UTC)
    # The same values twice are two citizens: the occurrence number keeps them apart, run after run.
    occurrence = seen[values]
    seen[values] += 1
    digest = hashlib.sha256("\x1f".join((*values[:4], channel, str(occurrence))).encode()).hexdigest()[:24]
    kind = "call" if channel == CALL_CHANNEL else "report"
    settings = config.for_category(category)
    bucket = bucket_start(at, settings.bucket_minutes)
    district_key = IncidentKey(category, district)
    if kind == "call":
        increments = [Increment(district_key, bucket, calls=1)]
    else:
        increments = [Increment(district_key, bucket, reports=1)]
        if settings.street_level and street:
            increments.append(Increment(IncidentKey(category, district, street), bucket, reports=1))
    contact_id = f"backfill:{digest}"
    fact = ContactFact(
        contact_id=contact_id,
        kind=kind,
        at=at,
        category=category,
        district=district,
        street=street or None if kind == "report" else None,
        waste_fraction=None,
        report_id=None,
    )
    return Contact(fact, Observation(contact_id, at, tuple(increments)))


# --------------------------------------------------------------------------------------------------
# Into the database


CHUNK_CONTACTS = 2000


@dataclass
class BackfillResult:
    lines: int = 0
    counted: int = 0
    already: int = 0
    skipped: int = 0
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None


async def load_history(
    sessions: Any,
    path: Path,
    config: SpikeConfig,
    category_of: Callable[[str], str | None] | None,
    *,
    now: dt.datetime,
    on_bytes: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Load the file in transactions of `CHUNK_CONTACTS` contacts, each under the state lock."""
    result = BackfillResult()
    chunk: dict[str, Contact] = {}
    for contact in read_contacts(path, config, category_of, on_line=on_bytes):
        result.lines += 1
        if contact is None:
            result.skipped += 1
            continue
        if contact.fact.contact_id in chunk:
            result.already += 1  # the same call or report twice in the file
            continue
        chunk[contact.fact.contact_id] = contact
        if len(chunk) >= CHUNK_CONTACTS:
            await _store(sessions, chunk, config, now, result)
            chunk = {}
    if chunk:
        await _store(sessions, chunk, config, now, result)
    return result


async def _store(
    sessions: Any, chunk: dict[str, Contact], config: SpikeConfig, now: dt.datetime, result: BackfillResult
) -> None:
    from consumers.spikes.engine import EngineState, SpikeEngine
    from consumers.spikes.store import DbCounts, insert_contacts, lock_state, save_state

    def work(session: Any) -> None:
        locked = lock_state(session, now)
        new = insert_contacts(session, {k: c.fact for k, c in chunk.items()})
        state = EngineState.from_dict(config, locked.state)
        state.baseline_day = locked.baseline_day
        store = DbCounts(session)
        observations = [chunk[k].observation for k in sorted(new)]
        SpikeEngine(config).backfill(state, observations, store)
        store.flush()
        result.counted += len(new)
        result.already += len(chunk) - len(new)
        for obs in observations:
            result.earliest = obs.at if result.earliest is None or obs.at < result.earliest else result.earliest
            result.latest = obs.at if result.latest is None or obs.at > result.latest else result.latest
        if new:
            save_state(session, state.to_dict(), now=now, baseline_day=state.baseline_day, baseline=None)

    async with sessions() as session, session.begin():
        await session.run_sync(work)
