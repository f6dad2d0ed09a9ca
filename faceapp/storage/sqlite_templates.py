"""Face templates in the SQLite store: the gallery matching reads, the listing and removal of
one person's templates, and what a new model needs (staleness, crops, re-encoding).

Templates from another model are never compared, only counted as stale. A template can keep
the aligned face crop it was made from (lossless image bytes), so that a new model re-encodes
it (``faceapp reencode``) instead of everyone enrolling again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import StoreError
from ..match import Gallery
from .common import check_encodings, is_unit_blob, per_row, usable_rows
from .records import StoredCrop, StoredSource, TemplateInfo
from .sqlite_connection import SqliteConnection
from .sqlite_people import check_model_dim, person_row


class SqliteTemplates(SqliteConnection):
    """The GalleryStore template methods, on a SQLite connection."""

    def gallery(self, model_id: str) -> Gallery:
        """Every template made by ``model_id``, as one matrix ready for matching.

        One read transaction, whose queries walk the (model_id, person_id) index in its own
        order (SQLite sorts nothing): how many templates each person has, whose ids repeat into
        the person_ids column, then the encodings alone, copied a few thousand at a time into
        one preallocated array. No list of a million blobs, nor one joined copy of them, is
        ever held. Templates of other models are left out (see stale_templates).
        """
        with self._read() as conn:
            first = conn.execute("SELECT dim FROM templates WHERE model_id = ? LIMIT 1", (model_id,)).fetchone()
            if first is None:
                return Gallery.empty(0, model_id)
            counts = conn.execute(
                "SELECT person_id, COUNT(*) FROM templates WHERE model_id = ? GROUP BY person_id ORDER BY person_id",
                (model_id,),
            ).fetchall()
            ids, per_person = zip(*counts)
            person_ids = np.repeat(np.array(ids, np.int64), np.array(per_person, np.int64))
            encodings, damaged = self._read_encodings(conn, model_id, int(first[0]), len(person_ids))
            if damaged:  # only then is it worth a scan: the first row itself may be the damaged one
                most = conn.execute("SELECT dim FROM templates WHERE model_id = ? GROUP BY dim"
                                    " ORDER BY COUNT(*) DESC, dim LIMIT 1", (model_id,)).fetchone()
                if int(most[0]) != encodings.shape[1]:
                    encodings, _ = self._read_encodings(conn, model_id, int(most[0]), len(person_ids))
            names = dict(conn.execute("SELECT id, name FROM people").fetchall())
        usable = usable_rows(encodings, model_id, self.path,
                             lambda bad: sorted({names.get(int(i), f"person {int(i)}") for i in person_ids[bad]}))
        if not usable.all():  # index only then: a healthy gallery keeps the one array, not a copy
            encodings, person_ids = encodings[usable], person_ids[usable]
        return Gallery(encodings, person_ids, names, model_id)

    @staticmethod
    def _read_encodings(conn: object, model_id: str, dim: int, count: int) -> tuple[np.ndarray, bool]:
        """The model's ``count`` encodings in (person_id, id) order, copied a few thousand at a
        time into one preallocated array, and whether any blob was not ``dim`` floats long (such
        a row reads as zeros, which usable_rows leaves out naming its person)."""
        encodings = np.empty((count, dim), "<f4")
        flat, size, at, damaged = encodings.reshape(-1).view(np.uint8), dim * 4, 0, False
        cursor = conn.execute("SELECT encoding FROM templates WHERE model_id = ? ORDER BY person_id, id", (model_id,))
        while rows := cursor.fetchmany(4096):
            blobs = [row[0] for row in rows]
            if set(map(len, blobs)) != {size}:
                damaged = True
                blobs = [blob if len(blob) == size else bytes(size) for blob in blobs]
            flat[at : at + size * len(blobs)] = np.frombuffer(b"".join(blobs), np.uint8)
            at += size * len(blobs)
        return encodings, damaged

    def _model_dim(self, model_id: str) -> int | None:
        with self._errors():
            row = self.db.execute("SELECT dim FROM templates WHERE model_id = ? LIMIT 1", (model_id,)).fetchone()
        return None if row is None else int(row[0])

    def stale_templates(self, model_id: str) -> dict[str, int]:
        """{other model id: template count} for templates ``model_id`` cannot use.

        The app tells the user these need re-enrolling; they are never compared.
        """
        with self._errors():
            rows = self.db.execute(
                "SELECT model_id, COUNT(*) FROM templates WHERE model_id != ? GROUP BY model_id ORDER BY model_id",
                (model_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def stale_people(self, model_id: str) -> dict[str, int]:
        """{name: template count} of the people with templates ``model_id`` cannot use, by name:
        whom to ask to enroll again when re-encoding could not bring them up to date."""
        with self._errors():
            rows = self.db.execute(
                "SELECT p.name, COUNT(*) FROM templates t JOIN people p ON p.id = t.person_id"
                " WHERE t.model_id != ? GROUP BY p.id ORDER BY p.name_key",
                (model_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def stale_crops(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredCrop]:
        """Up to ``limit`` templates of other models that kept their crop, by template id
        after ``after_id``: one page of what :meth:`reencode` can bring up to ``model_id``."""
        with self._errors():
            rows = self.db.execute(
                "SELECT id, person_id, model_id, crop FROM templates"
                " WHERE model_id != ? AND crop IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                (model_id, int(after_id), int(limit)),
            ).fetchall()
        return [StoredCrop(int(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    def stale_sources(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredSource]:
        """Like :meth:`stale_crops`, for the templates of other models that kept no crop but
        know their source: a photo that still exists can be aligned again."""
        with self._errors():
            rows = self.db.execute(
                "SELECT id, person_id, model_id, source FROM templates"
                " WHERE model_id != ? AND crop IS NULL AND source IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                (model_id, int(after_id), int(limit)),
            ).fetchall()
        return [StoredSource(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def stale_without_crop(self, model_id: str) -> int:
        """How many templates of other models kept no crop (enrolled before crops were kept)."""
        with self._errors():
            return int(self.db.execute(
                "SELECT COUNT(*) FROM templates WHERE model_id != ? AND crop IS NULL", (model_id,)
            ).fetchone()[0])

    def reencode(self, model_id: str, template_ids: Sequence[int], encodings: np.ndarray,
                 crops: Sequence[bytes | None] | None = None) -> int:
        """Replace templates' encodings with ``model_id``'s, in one transaction; returns how many.

        Only templates still made by another model change (one re-encoded meanwhile by
        another process, or deleted with its person, is skipped); each keeps its person,
        source and quality, and its crop unless ``crops`` gives one (a template re-aligned
        from its photo keeps the new crop for next time).
        """
        if not isinstance(model_id, str) or not model_id.strip():
            raise StoreError("reencode needs the model_id of the encoder that made the encodings")
        enc = check_encodings(encodings)
        if len(template_ids) != len(enc):
            raise StoreError(f"{len(template_ids)} template ids for {len(enc)} encodings")
        crop_list = per_row(crops, len(enc), "crops")
        with self._write() as conn:
            check_model_dim(conn, model_id, enc.shape[1])
            changed = 0
            for template_id, row, crop in zip(template_ids, enc, crop_list):
                changed += conn.execute(
                    "UPDATE templates SET model_id = ?, dim = ?, encoding = ?, crop = COALESCE(?, crop)"
                    " WHERE id = ? AND model_id != ?",
                    (model_id, enc.shape[1], row.tobytes(), None if crop is None else bytes(crop), int(template_id), model_id),
                ).rowcount
        return changed

    def templates_of(self, name: str, model_id: str) -> np.ndarray:
        """(K, D) float32 templates of one person for one model; K may be 0."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            rows = conn.execute(
                "SELECT dim, encoding FROM templates WHERE person_id = ? AND model_id = ? ORDER BY id",
                (person_id, model_id),
            ).fetchall()
        if not rows:
            return np.empty((0, self._model_dim(model_id) or 0), np.float32)
        dim = int(rows[0][0])
        templates = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        return templates[usable_rows(templates, model_id, self.path, lambda bad: [name])]

    def templates(self, name: str) -> list[TemplateInfo]:
        """Every template of one person, of every model, oldest first."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            rows = conn.execute(
                "SELECT id, model_id, dim, encoding, source, quality, created_at, crop IS NOT NULL"
                " FROM templates WHERE person_id = ? ORDER BY id",
                (person_id,),
            ).fetchall()
        return [
            TemplateInfo(int(r[0]), str(r[1]), str(r[4] or ""), None if r[5] is None else float(r[5]),
                         str(r[6] or ""), bool(r[7]), damaged=not is_unit_blob(r[3], r[2]))
            for r in rows
        ]

    def template_crop(self, name: str, template_id: int) -> bytes | None:
        """The kept face crop (image bytes) of one of ``name``'s templates, None if none was kept."""
        with self._read() as conn:
            person_id, stored = person_row(conn, name)
            row = conn.execute(
                "SELECT crop FROM templates WHERE id = ? AND person_id = ?", (int(template_id), person_id)
            ).fetchone()
        if row is None:
            raise StoreError(f"{stored} has no template {template_id}")
        return None if row[0] is None else bytes(row[0])

    def delete_template(self, name: str, template_id: int) -> int:
        """Erase one template of ``name`` (an enrollment photo that was a poor likeness, or a
        damaged row); returns how many templates that person has left. The person stays, even
        with none left, so their events keep their link; enroll again or delete them.

        The thumbnail may show the removed face (someone else's photo, say), so it becomes the
        best remaining kept crop, or none: no face image outlives the templates it came from.
        """
        with self._write() as conn:
            person_id, stored = person_row(conn, name)
            gone = conn.execute(
                "DELETE FROM templates WHERE id = ? AND person_id = ?", (int(template_id), person_id)
            ).rowcount
            if not gone:
                raise StoreError(f"{stored} has no template {template_id}; "
                                 f"list theirs with 'faceapp people templates \"{stored}\"'")
            best = conn.execute(
                "SELECT crop FROM templates WHERE person_id = ? AND crop IS NOT NULL"
                " ORDER BY quality IS NULL, quality DESC, id DESC LIMIT 1",
                (person_id,),
            ).fetchone()
            conn.execute("UPDATE people SET thumbnail = ? WHERE id = ?", (None if best is None else best[0], person_id))
            left = int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = ?", (person_id,)).fetchone()[0])
        self._erase_traces()  # the removed crop and encoding, out of the WAL too
        return left
