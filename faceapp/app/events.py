"""The event log as people read it, for both front ends: filtered by time, person and kind,
and written out as a CSV file a spreadsheet opens."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import FaceAppError
from ..storage import EVENT_KINDS
from .database import Database
from .privacy import PrivacyError, parse_period

# The columns of an events CSV, in order: what a reader of the log needs, not the row ids.
EVENT_CSV_COLUMNS = ("at", "kind", "name", "decision", "distance", "source", "station")
# Every event there is: export is not paged, a log is a few rows per sighting.
ALL_EVENTS = 2**62

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


class EventsError(FaceAppError):
    """A filter or an export that cannot be done as asked (a bad --since, a file already there)."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a period back from now ('30d', '12h', '2w') or a date or time
    ('2026-12-01', '2026-12-01T09:30', local time unless it says its offset); an aware datetime."""
    text = (text or "").strip()
    if _ISO_DAY.match(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EventsError(f"--since {text!r}: not a date such as 2026-12-01 or 2026-12-01T09:30") from None
        return moment if moment.tzinfo is not None else moment.astimezone()  # naive: the machine's local time
    try:
        age = parse_period(text)
    except PrivacyError:
        raise EventsError(f"--since {text!r}: give a period such as 7d, 12h or 2w, or a date such as 2026-12-01") from None
    return (now or datetime.now(timezone.utc)) - age


def check_kind(kind: str | None) -> str | None:
    """``kind`` if it is one the log records, else EventsError naming them."""
    if kind is not None and kind not in EVENT_KINDS:
        raise EventsError(f"--kind {kind!r}: the log records {', '.join(EVENT_KINDS)}")
    return kind


def list_events(db: Database, *, since: datetime | None = None, person: str | None = None,
                kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` events first that match every filter given: logged at or after
    ``since``, of ``person`` (whoever carries that name now, or events tied to no one logged
    under it), of ``kind``."""
    if limit < 0:
        raise EventsError(f"--limit must be 0 or more, got {limit}")
    return db.store.events(limit, person, since=since, kind=check_kind(kind))


def write_rows_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], path: Path) -> int:
    """Write a header and ``rows`` to a new CSV file (never over an existing one); returns how
    many rows. UTF-8 with a byte-order mark, so a spreadsheet shows accented names as they are."""
    path = Path(path)
    if path.exists():
        what = "a folder" if path.is_dir() else "a file"
        raise EventsError(f"{path}: {what} is there already; choose a new name")
    if not path.parent.is_dir():
        raise EventsError(f"{path.parent}: no such folder")
    try:
        f = open(path, "x", newline="", encoding="utf-8-sig")
    except OSError as exc:  # a read-only or special folder (/proc), no permission
        raise EventsError(f"{path}: cannot write it ({exc.strerror or exc})") from None
    try:
        with f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(["" if value is None else value for value in row] for row in rows)
    except OSError as exc:  # a full disk mid-way: no half file left to be taken for the whole
        path.unlink(missing_ok=True)
        raise EventsError(f"{path}: cannot write it ({exc.strerror or exc}); nothing was kept") from None
    return len(rows)


def write_events_csv(events: Sequence[dict[str, Any]], path: Path) -> int:
    """Write ``events`` to a new CSV file, the columns of :data:`EVENT_CSV_COLUMNS`."""
    return write_rows_csv(EVENT_CSV_COLUMNS, [[e.get(c) for c in EVENT_CSV_COLUMNS] for e in events], path)


def export_events(db: Database, path: Path, *, since: datetime | None = None, person: str | None = None,
                  kind: str | None = None) -> int:
    """Every event matching the filters, oldest first, into a new CSV file; returns how many."""
    events = list_events(db, since=since, person=person, kind=kind, limit=ALL_EVENTS)
    return write_events_csv(events[::-1], path)
