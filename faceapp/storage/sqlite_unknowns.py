"""Remembered unknown faces in the SQLite store: anonymous groups and their sightings, each
with the encoding and best crop of a face that stayed Unknown. Which group a sighting joins is
the application's rule (faceapp.app.unknowns); the store only keeps, lists and erases them."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from .common import check_encodings, now
from .sqlite_connection import SqliteConnection
from .sqlite_events import utc_text
from .unknown_records import UnknownFace, UnknownGroupInfo, group_infos, no_such_group, sighting_encodings


class SqliteUnknowns(SqliteConnection):
    """The GalleryStore methods for remembered unknown faces, on a SQLite connection."""

    def remember_unknown(self, model_id: str, encoding: np.ndarray, *, crop: bytes | None = None,
                         source: str | None = None, group_id: int | None = None, at: str | None = None) -> int:
        """Keep one sighting in group ``group_id`` (a new group when None); returns the group id."""
        row = check_encodings(encoding)[0]
        with self._write() as conn:
            if group_id is None:
                # Past every id ever given (unknown_group_ids) and every id there (a copy brings its own).
                conn.execute("UPDATE unknown_group_ids SET last = MAX(last, (SELECT COALESCE(MAX(id), 0)"
                             " FROM unknown_groups)) + 1")
                group_id = int(conn.execute("SELECT last FROM unknown_group_ids").fetchone()[0])
                conn.execute("INSERT INTO unknown_groups (id, created_at) VALUES (?, ?)", (group_id, now()))
            elif conn.execute("SELECT 1 FROM unknown_groups WHERE id = ?", (int(group_id),)).fetchone() is None:
                raise no_such_group(group_id)
            conn.execute("INSERT INTO unknown_sightings (group_id, at, source, station, model_id, dim, encoding, crop)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (int(group_id), at or now(), source, self.station, model_id, int(row.shape[0]),
                          row.tobytes(), crop))
        return int(group_id)

    def unknown_encodings(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(group ids (N,), encodings (N, D)) of every sighting made by ``model_id``."""
        with self._read() as conn:
            rows = conn.execute("SELECT group_id, dim, encoding FROM unknown_sightings WHERE model_id = ?"
                                " ORDER BY id", (model_id,)).fetchall()
        return sighting_encodings(rows)

    def unknown_groups(self) -> list[UnknownGroupInfo]:
        """Every unknown group, by id, with its sightings' count, times and sources."""
        with self._read() as conn:
            rows = conn.execute("SELECT group_id, at, source FROM unknown_sightings ORDER BY id").fetchall()
        return group_infos(rows)

    def unknown_faces(self, group_id: int) -> list[UnknownFace]:
        """The kept sightings of one group, oldest first; StoreError when there is no such group."""
        with self._read() as conn:
            rows = conn.execute("SELECT id, model_id, encoding, crop, source FROM unknown_sightings"
                                " WHERE group_id = ? ORDER BY id", (int(group_id),)).fetchall()
        if not rows:
            raise no_such_group(group_id)
        return [UnknownFace(int(r[0]), str(r[1]), bytes(r[2]), None if r[3] is None else bytes(r[3]), r[4]) for r in rows]

    def forget_unknown(self, group_id: int) -> int:
        """Erase one group and all its sightings, leaving no bytes of them; returns how many went."""
        with self._write() as conn:
            gone = int(conn.execute("DELETE FROM unknown_sightings WHERE group_id = ?", (int(group_id),)).rowcount)
            if not conn.execute("DELETE FROM unknown_groups WHERE id = ?", (int(group_id),)).rowcount:
                raise no_such_group(group_id)
        self._erase_traces()
        return gone

    def purge_unknowns(self, older_than: datetime) -> int:
        """Erase the sightings made before ``older_than`` (naive: UTC), and groups left empty;
        returns how many sightings went."""
        with self._write() as conn:
            gone = int(conn.execute("DELETE FROM unknown_sightings WHERE at < ?", (utc_text(older_than),)).rowcount)
            conn.execute("DELETE FROM unknown_groups WHERE id NOT IN (SELECT group_id FROM unknown_sightings)")
        if gone:
            self._erase_traces()
        return gone
