"""Enrolled people in the PostgreSQL store: enrolling, listing, renaming and deleting them.

People are keyed by :func:`faceapp.names.name_key`, a unique column, so two stations that
enroll the same new name at the same moment make one person: the second INSERT meets the
first's row (ON CONFLICT), waits for it to commit and adds its templates to that person.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import psycopg

from ..errors import StoreError, UnknownPersonError
from ..names import clean_name, name_key, validate_name
from .common import check_encodings, now, per_row
from .postgres_connection import PostgresConnection, iso
from .postgres_crypto import crop_context, encoding_context, thumbnail_context
from .postgres_events import insert_event
from .records import PersonInfo


def person_row(conn: psycopg.Connection, name: str) -> tuple[int, str]:
    """(id, stored name) of ``name``, compared case-insensitively, or UnknownPersonError."""
    if not isinstance(name, str):
        raise UnknownPersonError(f"no person named {name!r} is enrolled")
    cleaned = clean_name(name)
    row = conn.execute("SELECT id, name FROM people WHERE name_key = %s", (name_key(cleaned),)).fetchone()
    if row is None:
        raise UnknownPersonError(f"no person named {cleaned or name!r} is enrolled")
    return int(row[0]), str(row[1])


def check_model_dim(conn: psycopg.Connection, model_id: str, dim: int) -> None:
    """StoreError unless ``dim`` is the dimension of ``model_id``'s stored templates (if any)."""
    known = conn.execute("SELECT dim FROM templates WHERE model_id = %s LIMIT 1", (model_id,)).fetchone()
    if known is not None and int(known[0]) != dim:
        raise StoreError(
            f"model {model_id!r} makes {known[0]}-D encodings but these are {dim}-D; "
            "they come from a different model"
        )


def _person_info(row: tuple) -> PersonInfo:
    return PersonInfo(int(row[0]), str(row[1]), int(row[2]), iso(row[3]), bool(row[4]))


class PostgresPeople(PostgresConnection):
    """The GalleryStore people methods, on a PostgreSQL connection."""

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

        The person, all templates and the 'enroll' event are one transaction: a failure, or
        a connection cut half-way, leaves the database exactly as it was.
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
        key = name_key(name)
        with self._write("enroll") as conn:
            # The thumbnail follows once the id is known: a sealed one is bound to its person.
            inserted = conn.execute(
                "INSERT INTO people (name, name_key, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (name_key) DO NOTHING RETURNING id",
                (name, key, created),
            ).fetchone()
            if inserted is not None:
                person_id, stored_name, decision = int(inserted[0]), name, "new person"
            else:  # enrolled already, perhaps by another station a moment ago
                person_id, stored_name = person_row(conn, name)
                if new_person:
                    raise StoreError(f"{stored_name!r} is already enrolled; pick another name or add to them")
                decision = "added"
            if thumbnail is not None:
                conn.execute("UPDATE people SET thumbnail = %s WHERE id = %s",
                             (self._seal(thumbnail, thumbnail_context(person_id)), person_id))
            check_model_dim(conn, model_id, dim)
            # The ids are taken first, so each sealed encoding and crop is bound to its own row.
            ids = sorted(int(r[0]) for r in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('templates', 'id')) FROM generate_series(1, %s)", (n,)))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO templates (id, person_id, model_id, dim, encoding, source, quality, created_at, crop)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (ids[i], person_id, model_id, dim, self._seal(enc[i].tobytes(), encoding_context(ids[i])),
                         source_list[i], None if quality_list[i] is None else float(quality_list[i]), created,
                         self._seal(crop_list[i], crop_context(ids[i])))
                        for i in range(n)
                    ],
                )
            distinct_sources = {s for s in source_list if s is not None}
            insert_event(
                conn, "enroll", person_id=person_id, name=stored_name,
                decision=f"{decision}, {n} template{'s' if n != 1 else ''}", distance=None,
                source=distinct_sources.pop() if len(distinct_sources) == 1 else None, station=self.station,
            )
        return person_id

    def people(self) -> list[PersonInfo]:
        """Everyone enrolled, sorted by name (case-insensitively)."""
        with self._read() as conn:
            rows = conn.execute(
                """SELECT p.id, p.name, COUNT(t.id), p.created_at, p.has_thumbnail
                   FROM people p LEFT JOIN templates t ON t.person_id = p.id
                   GROUP BY p.id"""
            ).fetchall()
        return sorted((_person_info(r) for r in rows), key=lambda p: (name_key(p.name), p.id))

    def person(self, name: str) -> PersonInfo:
        """One person by name (case-insensitive), or UnknownPersonError."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            row = conn.execute(
                """SELECT p.id, p.name, (SELECT COUNT(*) FROM templates t WHERE t.person_id = p.id),
                          p.created_at, p.has_thumbnail
                   FROM people p WHERE p.id = %s""",
                (person_id,),
            ).fetchone()
        return _person_info(row)

    def has_person(self, name: str) -> bool:
        """Whether ``name`` is enrolled (case-insensitive)."""
        try:
            self.person(name)
        except UnknownPersonError:
            return False
        return True

    def thumbnail(self, name: str) -> bytes | None:
        """The stored thumbnail image bytes, or None when the person has none."""
        with self._read("read face crops") as conn:
            person_id, _ = person_row(conn, name)
            blob = conn.execute("SELECT thumbnail FROM people WHERE id = %s", (person_id,)).fetchone()[0]
        return self._unseal(blob, thumbnail_context(person_id))

    def rename(self, old: str, new: str) -> None:
        """Rename a person; past events keep the name they were logged under."""
        new = validate_name(new)
        with self._write("rename people") as conn:
            person_id, _ = person_row(conn, old)
            taken = conn.execute(
                "SELECT name FROM people WHERE name_key = %s AND id != %s", (name_key(new), person_id)
            ).fetchone()
            if taken is not None:
                raise StoreError(f"{taken[0]!r} is already enrolled; pick another name")
            conn.execute("UPDATE people SET name = %s, name_key = %s WHERE id = %s", (new, name_key(new), person_id))

    def delete(self, name: str) -> int:
        """Erase a person, all their templates and crops and every event of theirs (linked to
        them, or logged under their name); returns how many templates went.

        PostgreSQL has no secure delete: the rows' bytes stay in the server's files until
        VACUUM reuses their space (README says so), but no query can read them again.
        """
        with self._write("delete people") as conn:
            person_id, stored = person_row(conn, name)
            count = int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = %s", (person_id,)).fetchone()[0])
            conn.execute("DELETE FROM events WHERE person_id = %s OR (person_id IS NULL AND lower(name) = lower(%s))",
                         (person_id, stored))
            conn.execute("DELETE FROM people WHERE id = %s", (person_id,))
        return count
