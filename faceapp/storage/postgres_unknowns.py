"""Remembered unknown faces in the PostgreSQL store, as the SQLite store keeps them. A station's
role may add sightings and read encodings (to group them); only the administrator's reads the
crops, names or forgets. With a key, each encoding and crop is sealed to its sighting's id."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from .common import check_encodings, now
from .postgres_connection import PostgresConnection, iso
from .unknown_records import UnknownFace, UnknownGroupInfo, group_infos, no_such_group, sighting_encodings


def encoding_context(sighting_id: int) -> str:
    return f"unknown sighting {int(sighting_id)}'s encoding"


def crop_context(sighting_id: int) -> str:
    return f"unknown sighting {int(sighting_id)}'s crop"


class PostgresUnknowns(PostgresConnection):
    """The GalleryStore methods for remembered unknown faces, on a PostgreSQL connection."""

    def remember_unknown(self, model_id: str, encoding: np.ndarray, *, crop: bytes | None = None,
                         source: str | None = None, group_id: int | None = None, at: str | None = None) -> int:
        """Keep one sighting in group ``group_id`` (a new group when None); returns the group id."""
        row = check_encodings(encoding)[0]
        with self._write("remember unknown faces") as conn:
            if group_id is None:
                group_id = int(conn.execute("INSERT INTO unknown_groups (created_at) VALUES (%s) RETURNING id",
                                            (now(),)).fetchone()[0])
            elif conn.execute("SELECT 1 FROM unknown_groups WHERE id = %s", (int(group_id),)).fetchone() is None:
                raise no_such_group(group_id)
            # The id first, so the sealed blobs are bound to the row they go into.
            sighting = int(conn.execute("SELECT nextval(pg_get_serial_sequence('unknown_sightings', 'id'))").fetchone()[0])
            conn.execute("INSERT INTO unknown_sightings (id, group_id, at, source, station, model_id, dim, encoding, crop)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                         (sighting, int(group_id), at or now(), source, self.station, model_id, int(row.shape[0]),
                          self._seal(row.tobytes(), encoding_context(sighting)), self._seal(crop, crop_context(sighting))))
        return int(group_id)

    def unknown_encodings(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(group ids (N,), encodings (N, D)) of every sighting made by ``model_id``."""
        with self._read("read unknown faces") as conn:
            rows = conn.execute("SELECT id, group_id, dim, encoding FROM unknown_sightings WHERE model_id = %s"
                                " ORDER BY id", (model_id,)).fetchall()
        opened = [(r[1], r[2], self._unseal_or_none(r[3], encoding_context(r[0]))) for r in rows]
        return sighting_encodings(opened)

    def unknown_groups(self) -> list[UnknownGroupInfo]:
        """Every unknown group, by id, with its sightings' count, times and sources."""
        with self._read("read unknown faces") as conn:
            rows = conn.execute("SELECT group_id, at, source FROM unknown_sightings ORDER BY id").fetchall()
        return group_infos([(g, iso(at), source) for g, at, source in rows])

    def unknown_faces(self, group_id: int) -> list[UnknownFace]:
        """The kept sightings of one group, oldest first; StoreError when there is no such group."""
        with self._read("read unknown faces' crops") as conn:
            rows = conn.execute("SELECT id, model_id, encoding, crop, source FROM unknown_sightings"
                                " WHERE group_id = %s ORDER BY id", (int(group_id),)).fetchall()
        if not rows:
            raise no_such_group(group_id)
        return [UnknownFace(int(r[0]), str(r[1]), self._unseal(r[2], encoding_context(r[0])) or b"",
                            self._unseal(r[3], crop_context(r[0])), r[4]) for r in rows]

    def forget_unknown(self, group_id: int) -> int:
        """Erase one group and all its sightings; returns how many sightings went."""
        with self._write("forget unknown faces") as conn:
            gone = int(conn.execute("DELETE FROM unknown_sightings WHERE group_id = %s", (int(group_id),)).rowcount)
            if not conn.execute("DELETE FROM unknown_groups WHERE id = %s", (int(group_id),)).rowcount:
                raise no_such_group(group_id)
        return gone

    def purge_unknowns(self, older_than: datetime) -> int:
        """Erase the sightings made before ``older_than`` (naive: UTC), and groups left empty."""
        if older_than.tzinfo is None:
            older_than = older_than.replace(tzinfo=timezone.utc)
        with self._write("purge unknown faces") as conn:
            gone = int(conn.execute("DELETE FROM unknown_sightings WHERE at < %s", (older_than,)).rowcount)
            conn.execute("DELETE FROM unknown_groups g WHERE NOT EXISTS"
                         " (SELECT 1 FROM unknown_sightings s WHERE s.group_id = g.id)")
        return gone
