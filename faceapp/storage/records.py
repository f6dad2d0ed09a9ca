"""What a gallery store hands back and logs: plain frozen records and the event kinds, the same
whatever the backend, so front ends never depend on which database holds the gallery."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..types import table_counts

# The decisions the event log records; log_event refuses any other kind. 'correct' is a
# correction made by hand (a merge, a template moved to another person); 'attend' an attendance
# session's mark (faceapp.app.attendance: its source is the session's name).
EVENT_KINDS = ("verify", "identify", "enroll", "correct", "attend")


def check_kind(kind: str | None) -> None:
    """ValueError unless ``kind`` is None (any kind) or one of :data:`EVENT_KINDS`."""
    if kind is not None and kind not in EVENT_KINDS:
        raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")


@dataclass(frozen=True)
class StoredCrop:
    """A template made by another model, with the face crop it was made from."""

    template_id: int
    person_id: int
    model_id: str
    crop: bytes


@dataclass(frozen=True)
class StoredSource:
    """A template made by another model that kept no crop, with where it was enrolled from
    (a photo's path, or a camera's description)."""

    template_id: int
    person_id: int
    model_id: str
    source: str


@dataclass(frozen=True)
class QueuedEvent:
    """An event on its way to the log, kept by the station until the gallery has it (at once,
    or after an outage).

    ``uid`` is its own id, made when it was decided (a uuid), so writing it again after a
    connection lost at the wrong moment cannot store it twice; ``at`` is when it happened.
    """

    uid: str
    at: str
    kind: str
    person_id: int | None = None
    name: str | None = None
    decision: str | None = None
    distance: float | None = None
    source: str | None = None


@dataclass(frozen=True)
class PersonInfo:
    """One enrolled person as listed to the user; ``templates`` counts all models."""

    id: int
    name: str
    templates: int
    created_at: str
    has_thumbnail: bool


@dataclass(frozen=True)
class TemplateInfo:
    """One stored template as listed to the user, so a bad one can be found and removed.

    ``source`` is the photo's path or the camera's description ("" when unknown); ``damaged``
    says the encoding is not a unit vector of its stated size (matching leaves it out).
    """

    id: int
    model_id: str
    source: str
    quality: float | None
    created_at: str
    has_crop: bool
    damaged: bool

    def state(self, model_id: str | None) -> str:
        """'damaged', 'in use' or 'other model' for the encoder ``model_id``; 'unknown' without one."""
        if self.damaged:
            return "damaged"
        if model_id is None:
            return "unknown"
        return "in use" if self.model_id == model_id else "other model"


# What ``export_rows`` gives and ``import_rows`` takes, per table, in this order, the same for
# every backend: times are ISO-8601 text (UTC), encodings, thumbnails and crops bytes, so that
# 'faceapp db copy' moves a gallery between any two stores row for row, ids included.
TRANSFER_COLUMNS: dict[str, tuple[str, ...]] = {
    "people": ("id", "name", "name_key", "created_at", "thumbnail"),
    "templates": ("id", "person_id", "model_id", "dim", "encoding", "source", "quality", "created_at", "crop"),
    "events": ("id", "at", "kind", "person_id", "name", "decision", "distance", "source", "station"),
    # Remembered unknown faces (faceapp.app.unknowns): a group before its sightings.
    "unknown_groups": ("id", "created_at"),
    "unknown_sightings": ("id", "group_id", "at", "source", "station", "model_id", "dim", "encoding", "crop"),
}


def not_empty(held: dict[str, int]) -> str:
    """Why a gallery cannot take a copy: '2 people, 3 templates' (its tables that hold rows)."""
    return table_counts({table: n for table, n in held.items() if n})


def queued_rows(events: Sequence[QueuedEvent], station: str | None,
                lookup: Callable[[int | None, str | None], tuple[int | None, str | None]]) -> list[tuple]:
    """The rows (uid, at, kind, person_id, name, decision, distance, source, station) that
    log_events inserts: ``lookup(person_id, name)`` fills in the person and name as
    log_event does; a non-finite distance becomes None, as there."""
    rows = []
    for e in events:
        if e.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {e.kind!r}")
        person_id, name = lookup(e.person_id, e.name)
        distance = None if e.distance is None or not math.isfinite(float(e.distance)) else float(e.distance)
        rows.append((e.uid, e.at, e.kind, person_id, name, e.decision, distance, e.source, station))
    return rows


def columns(table: str) -> tuple[str, ...]:
    """The transfer columns of ``table``; ValueError for a table that does not travel."""
    if table not in TRANSFER_COLUMNS:
        raise ValueError(f"table must be one of {tuple(TRANSFER_COLUMNS)}, got {table!r}")
    return TRANSFER_COLUMNS[table]
