"""Rows that arrive in the PostgreSQL store from elsewhere, or leave it whole: a gallery moved
row for row with its ids (``faceapp db copy``, remembered unknown faces included), and events a station queued while the server
was out of reach (written once each, by their uid, however often a flush is retried).

Rows travel as :data:`~faceapp.storage.records.TRANSFER_COLUMNS` say, the same for every
backend: times as ISO-8601 text (this store keeps timestamptz, converted on the way), binary
columns as bytes. Imports go through COPY, PostgreSQL's bulk path, in one transaction. In an
encrypted gallery the face data travels opened and is sealed again on the way in, so a copy
never carries blobs another store could not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ..errors import StoreError
from ..names import name_key
from .postgres_connection import PostgresConnection, iso
from .postgres_crypto import crop_context, encoding_context, thumbnail_context
from .postgres_unknowns import crop_context as sighting_crop_context
from .postgres_unknowns import encoding_context as sighting_encoding_context
from .records import TRANSFER_COLUMNS, QueuedEvent, not_empty, queued_rows
from .records import columns

_TIME_COLUMNS = {"created_at", "at"}
# The sealed columns of each table, with what each blob is bound to (given the row's id).
_SEALED = {"people": {"thumbnail": thumbnail_context},
           "templates": {"encoding": encoding_context, "crop": crop_context},
           "unknown_sightings": {"encoding": sighting_encoding_context, "crop": sighting_crop_context}}


def _exported(row: tuple) -> tuple:
    return tuple(iso(v) if isinstance(v, datetime) else v for v in row)


def _to_import(names: tuple[str, ...], row: tuple) -> tuple:
    # An old SQLite row may say '' for a time it never knew: NULL here, as timestamptz has no ''.
    return tuple(None if name in _TIME_COLUMNS and value == "" else value for name, value in zip(names, row))


class PostgresTransfer(PostgresConnection):
    """The GalleryStore whole-database methods (counts, export, import), on a PostgreSQL connection."""

    def counts(self) -> dict[str, int]:
        """How many rows each table holds."""
        with self._read() as conn:
            return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TRANSFER_COLUMNS}

    def export_rows(self, table: str, after_id: int = 0, limit: int = 500) -> list[tuple]:
        """One page of ``table``'s rows after ``after_id``, in id order."""
        names = columns(table)
        with self._read() as conn:
            rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} WHERE id > %s ORDER BY id LIMIT %s",
                                (int(after_id), int(limit))).fetchall()
        return [self._opened_row(table, names, _exported(row)) for row in rows]

    def _opened_row(self, table: str, names: tuple[str, ...], row: tuple) -> tuple:
        sealed = _SEALED.get(table, {}) if self.cipher is not None else {}
        if not sealed:
            return row
        return tuple(self._unseal(v, sealed[n](row[0])) if n in sealed else v for n, v in zip(names, row))

    def _sealed_row(self, table: str, names: tuple[str, ...], row: tuple) -> tuple:
        sealed = _SEALED.get(table, {}) if self.cipher is not None else {}
        if not sealed:
            return row
        return tuple(self._seal(v, sealed[n](row[0])) if n in sealed else v for n, v in zip(names, row))

    def import_rows(self, pages: Iterable[tuple[str, Sequence[tuple]]]) -> dict[str, int]:
        """Write exported pages into this empty gallery, ids and all, in one transaction; the
        id sequences then continue after the highest id copied."""
        written = dict.fromkeys(TRANSFER_COLUMNS, 0)
        with self._write("copy a gallery in") as conn:
            held = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TRANSFER_COLUMNS}
            if any(held.values()):
                raise StoreError(f"{self.path}: holds {not_empty(held)} already; copy into a new, empty database")
            with conn.cursor() as cur:
                for table, rows in pages:
                    names = columns(table)
                    with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(self._sealed_row(table, names, _to_import(names, row)))
                    written[table] += len(rows)
            for table in TRANSFER_COLUMNS:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                             f" FROM {table}")
        return written

    def log_events(self, events: Sequence[QueuedEvent]) -> int:
        """Write the application's events (just decided, or kept while offline), each once by
        its uid, in one transaction."""
        with self._write("write events") as conn:
            def lookup(person_id: int | None, name: str | None) -> tuple[int | None, str | None]:
                if person_id is not None:
                    row = conn.execute("SELECT name FROM people WHERE id = %s", (int(person_id),)).fetchone()
                    return (None, name) if row is None else (int(person_id), name if name is not None else str(row[0]))
                if name is not None:
                    row = conn.execute("SELECT id FROM people WHERE name_key = %s", (name_key(name),)).fetchone()
                    return (None if row is None else int(row[0])), name
                return None, None

            written = 0
            for row in queued_rows(events, self.station, lookup):
                written += conn.execute(
                    "INSERT INTO events (uid, at, kind, person_id, name, decision, distance, source, station)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (uid) DO NOTHING", row).rowcount
            return written
