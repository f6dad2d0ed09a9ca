"""Enrolled people in the SQLite store: enrolling, listing, renaming and deleting them.

People are keyed by :func:`faceapp.names.name_key`, not by SQLite's NOCASE (which folds only
ASCII), so 'ZOË' and 'zoë' are one person here as in every backend.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

import numpy as np

from ..errors import StoreError, UnknownPersonError
from ..names import clean_name, name_key, validate_name
from .common import check_encodings, now, per_row
from .records import PersonInfo
from .sqlite_connection import SqliteConnection
from .sqlite_events import insert_event


def person_row(conn: sqlite3.Connection, name: str) -> tuple[int, str]:
    """(id, stored name) of ``name``, compared case-insensitively, or UnknownPersonError."""
    if not isinstance(name, str):
        raise UnknownPersonError(f"no person named {name!r} is enrolled")
    cleaned = clean_name(name)
    row = conn.execute("SELECT id, name FROM people WHERE name_key = ?", (name_key(cleaned),)).fetchone()
    if row is None:
        raise UnknownPersonError(f"no person named {cleaned or name!r} is enrolled")
    return int(row[0]), str(row[1])


def check_model_dim(conn: sqlite3.Connection, model_id: str, dim: int) -> None:
    """StoreError unless ``dim`` is the dimension of ``model_id``'s stored templates (if any)."""
    # Every template of a model has the same dim (enforced here), so one row tells it;
    # "AND dim != ?" would make SQLite read every template of the model on each write.
    known = conn.execute("SELECT dim FROM templates WHERE model_id = ? LIMIT 1", (model_id,)).fetchone()
    if known is not None and int(known[0]) != dim:
        raise StoreError(
            f"model {model_id!r} makes {known[0]}-D encodings but these are {dim}-D; "
            "they come from a different model"
        )


class SqlitePeople(SqliteConnection):
    """The GalleryStore people methods, on a SQLite connection."""

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

        Everything — the person, all templates and the 'enroll' event — is one transaction,
        so a failure leaves the database exactly as it was. ``new_person`` refuses to add
        to someone already enrolled (an 'enroll' that should not merge two people). A
        ``thumbnail`` replaces the stored one. ``crops`` (image bytes per template, see
        faceapp.images.encode_lossless) let a later model re-encode the templates.
        """
        name = validate_name(name)
        if not isinstance(model_id, str) or not model_id.strip():
            raise StoreError("enroll needs the model_id of the encoder that made the encodings")
        enc = check_encodings(encodings)
        n, dim = enc.shape
        source_list = per_row(sources, n, "sources")
        quality_list = per_row(qualities, n, "qualities")
        crop_list = per_row(crops, n, "crops")
        for crop in crop_list:
            if crop is not None and not isinstance(crop, (bytes, bytearray, memoryview)):
                raise StoreError(f"a template's crop must be image bytes, not {type(crop).__name__}")
        for q in quality_list:
            if q is not None and not math.isfinite(float(q)):
                raise StoreError(f"template qualities must be finite numbers, got {q!r}")
        if thumbnail is not None and not isinstance(thumbnail, (bytes, bytearray, memoryview)):
            raise StoreError(f"a thumbnail must be image bytes, not {type(thumbnail).__name__}")
        created = now()
        with self._write() as conn:
            row = conn.execute("SELECT id, name FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
            if row is not None and new_person:
                raise StoreError(f"{row[1]!r} is already enrolled; pick another name or add to them")
            if row is None:
                person_id = int(
                    conn.execute(
                        "INSERT INTO people (name, name_key, created_at, thumbnail) VALUES (?, ?, ?, ?)",
                        (name, name_key(name), created, None if thumbnail is None else bytes(thumbnail)),
                    ).lastrowid
                )
                stored_name, decision = name, "new person"
            else:
                person_id, stored_name, decision = int(row[0]), str(row[1]), "added"
                if thumbnail is not None:
                    conn.execute("UPDATE people SET thumbnail = ? WHERE id = ?", (bytes(thumbnail), person_id))
            check_model_dim(conn, model_id, dim)
            conn.executemany(
                "INSERT INTO templates (person_id, model_id, dim, encoding, source, quality, created_at, crop)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        person_id,
                        model_id,
                        dim,
                        enc[i].tobytes(),
                        source_list[i],
                        None if quality_list[i] is None else float(quality_list[i]),
                        created,
                        None if crop_list[i] is None else bytes(crop_list[i]),
                    )
                    for i in range(n)
                ),
            )
            distinct_sources = {s for s in source_list if s is not None}
            insert_event(
                conn,
                "enroll",
                person_id=person_id,
                name=stored_name,
                decision=f"{decision}, {n} template{'s' if n != 1 else ''}",
                distance=None,
                source=distinct_sources.pop() if len(distinct_sources) == 1 else None,
                station=self.station,
            )
        return person_id

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, sorted by name (case-insensitively)."""
        with self._read() as conn:
            rows = conn.execute(
                """SELECT p.id, p.name, COUNT(t.id), p.created_at, p.thumbnail IS NOT NULL
                   FROM people p LEFT JOIN templates t ON t.person_id = p.id
                   GROUP BY p.id"""
            ).fetchall()
        infos = [PersonInfo(int(r[0]), str(r[1]), int(r[2]), str(r[3] or ""), bool(r[4])) for r in rows]
        return sorted(infos, key=lambda p: (name_key(p.name), p.id))

    def person(self, name: str) -> PersonInfo:
        """One person by name (case-insensitive), or UnknownPersonError."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            r = conn.execute(
                """SELECT p.id, p.name, (SELECT COUNT(*) FROM templates t WHERE t.person_id = p.id),
                          p.created_at, p.thumbnail IS NOT NULL
                   FROM people p WHERE p.id = ?""",
                (person_id,),
            ).fetchone()
        return PersonInfo(int(r[0]), str(r[1]), int(r[2]), str(r[3] or ""), bool(r[4]))

    def has_person(self, name: str) -> bool:
        """Whether ``name`` is enrolled (case-insensitive)."""
        try:
            self.person(name)
        except UnknownPersonError:
            return False
        return True

    def thumbnail(self, name: str) -> bytes | None:
        """The stored thumbnail image bytes, or None when the person has none."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            blob = conn.execute("SELECT thumbnail FROM people WHERE id = ?", (person_id,)).fetchone()[0]
        return None if blob is None else bytes(blob)

    def rename(self, old: str, new: str) -> None:
        """Rename a person; past events keep the name they were logged under."""
        new = validate_name(new)
        with self._write() as conn:
            person_id, _ = person_row(conn, old)
            taken = conn.execute(
                "SELECT name FROM people WHERE name_key = ? AND id != ?", (name_key(new), person_id)
            ).fetchone()
            if taken is not None:
                raise StoreError(f"{taken[0]!r} is already enrolled; pick another name")
            conn.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?", (new, name_key(new), person_id))

    def delete(self, name: str) -> int:
        """Erase a person, all their templates and crops and every event of theirs (linked to
        them, or logged under their name); returns how many templates went.

        Erased means unreadable: secure_delete zeroes the rows in the file, and the WAL, which
        still holds them as they were, is checkpointed and cut (see ``_erase_traces``).
        """
        with self._write() as conn:
            person_id, stored = person_row(conn, name)
            count = int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = ?", (person_id,)).fetchone()[0])
            conn.execute("DELETE FROM events WHERE person_id = ? OR (person_id IS NULL AND name = ? COLLATE NOCASE)",
                         (person_id, stored))
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        self._erase_traces()
        return count
