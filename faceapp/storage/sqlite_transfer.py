"""Rows that arrive in the SQLite store from elsewhere, or leave it whole: a gallery moved row
for row with its ids, remembered unknown faces included (``faceapp db copy``, SQLite to PostgreSQL and back, or file to file),
and events a station queued while its gallery was offline.

Rows travel as :data:`~faceapp.storage.records.TRANSFER_COLUMNS` say, the same for every
backend; the SQLite store keeps times as ISO-8601 text already, so they pass as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..names import name_key

from ..errors import StoreError
from .records import TRANSFER_COLUMNS, QueuedEvent, columns, not_empty, queued_rows
from .sqlite_connection import SqliteConnection


class SqliteTransfer(SqliteConnection):
    """The GalleryStore whole-database methods (counts, export, import), on a SQLite connection."""

    def counts(self) -> dict[str, int]:
        """How many rows each table holds."""
        with self._read() as conn:
            return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TRANSFER_COLUMNS}

    def export_rows(self, table: str, after_id: int = 0, limit: int = 500) -> list[tuple]:
        """One page of ``table``'s rows after ``after_id``, in id order."""
        names = columns(table)
        with self._read() as conn:
            rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} WHERE id > ? ORDER BY id LIMIT ?",
                                (int(after_id), int(limit))).fetchall()
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    def import_rows(self, pages: Iterable[tuple[str, Sequence[tuple]]]) -> dict[str, int]:
        """Write exported pages into this empty gallery, ids and all, in one transaction."""
        written = dict.fromkeys(TRANSFER_COLUMNS, 0)
        with self._write() as conn:
            held = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TRANSFER_COLUMNS}
            if any(held.values()):
                raise StoreError(f"{self.path}: holds {not_empty(held)} already; copy into a new, empty database")
            for table, rows in pages:
                names = columns(table)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    [tuple(row) for row in rows],
                )
                written[table] += len(rows)
        return written

    def log_events(self, events: Sequence[QueuedEvent]) -> int:
        """Write the application's events (just decided, or kept while offline), each once by
        its uid, in one transaction."""
        with self._write() as conn:
            def lookup(person_id: int | None, name: str | None) -> tuple[int | None, str | None]:
                if person_id is not None:
                    row = conn.execute("SELECT name FROM people WHERE id = ?", (int(person_id),)).fetchone()
                    return (None, name) if row is None else (int(person_id), name if name is not None else str(row[0]))
                if name is not None:
                    row = conn.execute("SELECT id FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
                    return (None if row is None else int(row[0])), name
                return None, None

            before = conn.total_changes
            conn.executemany(
                "INSERT INTO events (uid, at, kind, person_id, name, decision, distance, source, station)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING",
                queued_rows(events, self.station, lookup),
            )
            return conn.total_changes - before
