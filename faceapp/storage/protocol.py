"""GalleryStore: everything the application needs from the database of enrolled people.

The front ends, re-encoding and the benchmarks program against this protocol, never against
one database, so a backend (a SQLite file, or a PostgreSQL server several stations share)
can be swapped in by :func:`faceapp.storage.open_store` without touching them. It is structural: a backend does
not inherit from it, it only has to provide every member with the same signature and the
behaviour described here, which tests/storage/test_store_contract.py checks for each backend.

Rules every backend keeps:

- Every failure a user can meet (damaged, locked, closed or foreign database, bad input) is a
  :class:`~faceapp.errors.StoreError` whose message names the database and says what to do;
  a name that is not enrolled is an :class:`~faceapp.errors.UnknownPersonError`.
- Each write is one transaction: a failure leaves the database exactly as it was.
- Names are cleaned and compared as :mod:`faceapp.names` says (case-insensitively, in any
  script), so every backend agrees on who is who.
- Encodings are unit-length float32 rows tagged with the model that made them; templates of
  another model are never compared, only counted as stale, and damaged ones are left out of
  matching (with a warning on the "faceapp.storage" logger) but never deleted.
- An open store is used from one thread; another thread or process opens its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from ..match import Gallery
from .records import PersonInfo, QueuedEvent, StoredCrop, StoredSource, TemplateInfo
from .unknown_records import UnknownFace, UnknownGroupInfo

# typing.Self needs Python 3.11; faceapp supports 3.10.
_Store = TypeVar("_Store", bound="GalleryStore")


@runtime_checkable
class GalleryStore(Protocol):
    """An open gallery database: people, their face templates and the event log."""

    # -- the database itself --------------------------------------------------------------

    @property
    def path(self) -> Path | str:
        """Where the database is, for messages: a file path, or ':memory:' (a server backend
        gives its address without the password)."""
        ...

    def close(self) -> None:
        """Close the connection; closing twice is fine. Any later call raises StoreError
        saying the database was closed."""
        ...

    def retry_now(self) -> None:
        """Forget any wait before the next try to reach a server that was away, so that the
        next call tries it at once (a last flush before closing); nothing for a local file."""
        ...

    def __enter__(self: _Store) -> _Store:
        """``with open_store(...) as store:`` closes the store when the block ends."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the store, whether the block ended normally or by an exception."""
        ...

    # -- people ---------------------------------------------------------------------------

    def enroll(
        self,
        name: str,
        encodings: np.ndarray,
        model_id: str,
        sources: Sequence[str | None] | None = None,
        qualities: Sequence[float] | None = None,
        thumbnail: bytes | None = None,
        *,
        crops: Sequence[bytes | None] | None = None,
        new_person: bool = False,
    ) -> int:
        """Add templates for ``name`` (creating the person if needed); returns the person id.

        The person, all templates and the 'enroll' event are one transaction. ``encodings``
        is (N, D) or (D,) unit-length rows, all of one dimension per ``model_id``;
        ``sources``, ``qualities`` and ``crops`` (lossless image bytes of the aligned face,
        for re-encoding by a later model) give one entry per row. ``new_person`` refuses to
        add to someone already enrolled; a ``thumbnail`` replaces the stored one.
        """
        ...

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, sorted by name (case-insensitively); template counts span all models."""
        ...

    def person(self, name: str) -> PersonInfo:
        """One person by name (case-insensitive), or UnknownPersonError."""
        ...

    def has_person(self, name: str) -> bool:
        """Whether ``name`` is enrolled (case-insensitive)."""
        ...

    def thumbnail(self, name: str) -> bytes | None:
        """The stored thumbnail image bytes, or None when the person has none."""
        ...

    def rename(self, old: str, new: str) -> None:
        """Rename a person, keeping their templates; StoreError when ``new`` is invalid or
        someone else's. Past events keep the name they were logged under."""
        ...

    def delete(self, name: str) -> int:
        """Erase a person, all their templates and crops, and their events (those linked to
        them and those logged under their name); returns how many templates went. Erased means
        that no copy stays readable in the database's files (journal included)."""
        ...

    # -- templates ------------------------------------------------------------------------

    def gallery(self, model_id: str) -> Gallery:
        """Every usable template made by ``model_id``, as one matrix ready for matching
        (empty when there are none). Other models' templates are left out (see
        :meth:`stale_templates`), damaged ones too, with a warning naming whose they are."""
        ...

    def stale_templates(self, model_id: str) -> dict[str, int]:
        """{other model id: template count} for the templates ``model_id`` cannot use."""
        ...

    def stale_people(self, model_id: str) -> dict[str, int]:
        """{name: template count} of the people with templates ``model_id`` cannot use, by
        name: whom to ask to enroll again when re-encoding could not bring them up to date."""
        ...

    def stale_crops(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredCrop]:
        """Up to ``limit`` templates of other models that kept their crop, by template id
        after ``after_id``: one page of what :meth:`reencode` can bring up to ``model_id``."""
        ...

    def stale_sources(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredSource]:
        """Like :meth:`stale_crops`, for the templates of other models that kept no crop but
        know their source: a photo that still exists can be aligned again."""
        ...

    def stale_without_crop(self, model_id: str) -> int:
        """How many templates of other models kept no crop."""
        ...

    def reencode(self, model_id: str, template_ids: Sequence[int], encodings: np.ndarray,
                 crops: Sequence[bytes | None] | None = None) -> int:
        """Replace templates' encodings with ``model_id``'s, in one transaction; returns how many.

        Only templates still made by another model change (one re-encoded or deleted
        meanwhile is skipped); each keeps its person, source and quality, and its crop unless
        ``crops`` gives a new one.
        """
        ...

    def templates_of(self, name: str, model_id: str) -> np.ndarray:
        """(K, D) float32 usable templates of one person for one model; K may be 0."""
        ...

    def templates(self, name: str) -> list[TemplateInfo]:
        """Every template of one person, of every model, damaged ones included, oldest first."""
        ...

    def template_crop(self, name: str, template_id: int) -> bytes | None:
        """The kept face crop (image bytes) of one of ``name``'s templates, None if none was
        kept; StoreError when the template is not theirs."""
        ...

    def delete_template(self, name: str, template_id: int) -> int:
        """Erase one template of ``name``; returns how many templates that person has left.

        The person stays, even with none left. The thumbnail becomes the best remaining kept
        crop, or none, so no face image outlives the templates it came from.
        """
        ...

    # -- corrections (each one transaction, logged as a 'correct' event) --------------------

    def merge_people(self, source: str, target: str) -> tuple[int, int]:
        """Merge ``source`` into ``target`` (two entries of one person): every template and
        every event linked to ``source`` moves to ``target`` (events keep the name text they were
        logged under), ``target`` takes ``source``'s thumbnail only when it has none, and
        ``source`` is gone. Returns (templates moved, events moved). StoreError when both
        name the same person; UnknownPersonError for a name not enrolled."""
        ...

    def move_template(self, name: str, template_id: int, other: str) -> int:
        """Move one template of ``name`` (a face that was someone else's) to ``other``,
        encoding and crop included; returns how many templates ``name`` has left. ``name``'s
        thumbnail becomes their best remaining kept crop, or none, as :meth:`delete_template`
        leaves it. StoreError when the template is not ``name``'s or both are one person."""
        ...

    def not_this_person(self, event_id: int) -> str:
        """Correct one sighting: the identify event ``event_id`` named someone it was not, so it
        is rewritten as naming nobody (person and name cleared, decision "corrected: not NAME"),
        and a 'correct' event says who was corrected where, in one transaction. Returns the
        name it had. No template or remembered face is tied to a sighting today, so nothing
        else changes. StoreError when there is no such event or it is not a named identify."""
        ...

    # -- events ---------------------------------------------------------------------------

    def log_event(
        self,
        kind: str,
        *,
        name: str | None = None,
        person_id: int | None = None,
        decision: str | None = None,
        distance: float | None = None,
        source: str | None = None,
    ) -> int:
        """Record a decision of one of :data:`~faceapp.storage.records.EVENT_KINDS` (ValueError
        for another); returns the event id. The name is filled in from ``person_id`` and the
        person from ``name`` when missing; a non-finite distance is stored as None. The event
        records the station the store was opened for (``open_store(..., station=)``)."""
        ...

    def events(self, limit: int = 100, name: str | None = None, *, since: datetime | None = None,
               kind: str | None = None) -> list[dict]:
        """The newest ``limit`` events first, as dicts with the keys id, at, kind, person_id,
        name, decision, distance, source and station; with ``name``, only the events logged under that
        name (also of deleted people) and those of the person now carrying it; with ``since``
        (naive: UTC), only those logged at or after it; with ``kind``, only that kind
        (ValueError for one not in EVENT_KINDS). The filters combine."""
        ...

    def log_events(self, events: Sequence[QueuedEvent]) -> int:
        """Write events made by the application (one just decided, or several kept while the
        gallery was offline) in one transaction, each with its own time and this store's
        station, filling in name and person as :meth:`log_event` does; an event whose ``uid``
        is stored already is skipped, so a retry after a lost reply never writes one twice.
        Returns how many were new."""
        ...

    def purge_events(self, older_than: datetime) -> int:
        """Erase every event logged before ``older_than`` (naive: UTC), as :meth:`delete`
        erases; returns how many went. The retention period's purge."""
        ...

    # -- remembered unknown faces (faceapp.app.unknowns decides which group a face joins) --

    def remember_unknown(self, model_id: str, encoding: np.ndarray, *, crop: bytes | None = None,
                         source: str | None = None, group_id: int | None = None, at: str | None = None) -> int:
        """Keep one sighting of a face that stayed Unknown (a unit ``encoding`` of ``model_id``,
        its crop, where it was seen, ``at`` an ISO-8601 time, now by default) in the group
        ``group_id``, or in a new group when None; returns the group's id. StoreError for a
        group that is not there. A station's role may do this."""
        ...

    def unknown_encodings(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(group ids (N,), float32 encodings (N, D)) of every kept sighting made by ``model_id``."""
        ...

    def unknown_groups(self) -> list[UnknownGroupInfo]:
        """Every unknown group with a sighting, by id: how many, first and last seen, sources."""
        ...

    def unknown_faces(self, group_id: int) -> list[UnknownFace]:
        """One group's kept sightings (encoding, crop, source), oldest first; StoreError when
        there is no such group. Crops are face images: the administrator's role only."""
        ...

    def forget_unknown(self, group_id: int) -> int:
        """Erase a group and its sightings as :meth:`delete` erases (no copy stays readable);
        returns how many sightings went; StoreError when there is no such group."""
        ...

    def purge_unknowns(self, older_than: datetime) -> int:
        """Erase the sightings made before ``older_than`` (naive: UTC) and the groups left with
        none, as :meth:`delete` erases; returns how many sightings went. The retention purge."""
        ...

    # -- the database as a whole: its schema, and moving a gallery between stores ----------

    @property
    def schema_versions(self) -> tuple[int, int]:
        """(the schema version the database was at when opened, the version it is at now):
        they differ when opening upgraded it. Each backend counts its own versions."""
        ...

    def counts(self) -> dict[str, int]:
        """How many rows each table of :data:`~faceapp.storage.records.TRANSFER_COLUMNS` holds:
        {'people': n, 'templates': n, 'events': n, 'unknown_groups': n, 'unknown_sightings': n}."""
        ...

    def export_rows(self, table: str, after_id: int = 0, limit: int = 500) -> list[tuple]:
        """Up to ``limit`` rows of ``table`` (a table of ``TRANSFER_COLUMNS``) with ids after
        ``after_id``, in id order, each a tuple of :data:`~faceapp.storage.records.TRANSFER_COLUMNS`
        [table]: the same for every backend. ValueError for another table."""
        ...

    def import_rows(self, pages: Iterable[tuple[str, Sequence[tuple]]]) -> dict[str, int]:
        """Write pages of (table, rows as :meth:`export_rows` gives them, of any backend) into
        this store, keeping their ids, in one transaction; returns how many rows went into
        each table. Only into an empty gallery (StoreError otherwise); people before their
        templates and events, unknown groups before their sightings. A failure leaves the
        store empty."""
        ...


@runtime_checkable
class GalleryWatcher(Protocol):
    """Tells a station that the gallery changed elsewhere (:func:`faceapp.storage.watch_gallery`):
    PostgreSQL's LISTEN/NOTIFY, or a SQLite file's data_version. It has a connection of its own."""

    @property
    def online(self) -> bool:
        """Whether the watcher reaches the database now (a server can go away and come back)."""
        ...

    def changed(self) -> bool:
        """Whether people or templates changed since the last call; never blocks. True once
        after an outage ends, as what changed meanwhile was not heard."""
        ...

    def close(self) -> None:
        """Stop watching (idempotent)."""
        ...
