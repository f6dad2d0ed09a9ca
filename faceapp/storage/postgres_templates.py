"""Face templates in the PostgreSQL store: the gallery matching reads, the listing and removal of
one person's templates, and what a new model needs (staleness, crops, re-encoding).

The rules are the SQLite store's (see :mod:`.sqlite_templates`); only the SQL differs. The
gallery comes over binary COPY, the fastest way out of PostgreSQL, joined and read with one
frombuffer. Kept face crops are never read by a station's role: only re-encoding and the
template view read them, and both are the administrator's. In an encrypted gallery each
encoding and crop is sealed to its template's id (see :mod:`.postgres_crypto`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import StoreError
from ..match import Gallery
from .common import check_encodings, is_unit_blob, per_row, usable_rows
from .postgres_connection import PostgresConnection, iso
from .postgres_crypto import crop_context, encoding_context
from .postgres_people import check_model_dim, person_row
from .records import StoredCrop, StoredSource, TemplateInfo


class PostgresTemplates(PostgresConnection):
    """The GalleryStore template methods, on a PostgreSQL connection."""

    def gallery(self, model_id: str) -> Gallery:
        """Every template made by ``model_id``, as one matrix ready for matching; the
        templates and names are read on one snapshot, so they agree."""
        with self._read() as conn:
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY (SELECT person_id, dim, encoding, id FROM templates WHERE model_id = {}"
                    " ORDER BY person_id, id) TO STDOUT (FORMAT BINARY)".format(_literal(conn, model_id))
                ) as copy:
                    copy.set_types(["int8", "int4", "bytea", "int8"])
                    rows = list(copy.rows())  # parsed by psycopg's C code: the fastest way found
            names = {int(i): str(n) for i, n in conn.execute("SELECT id, name FROM people").fetchall()}
        if not rows:
            return Gallery.empty(0, model_id)
        # The dimension most of the model's templates have; a row of another size (damaged) reads
        # as zeros, which usable_rows leaves out naming its person, so it stops nobody else.
        dim = Counter(int(r[1]) for r in rows).most_common(1)[0][0]
        size = dim * 4
        blob = b"".join(b if len(b) == size else bytes(size) for b in self._opened_encodings(rows, 3, 2, dim))
        encodings = np.frombuffer(blob, dtype="<f4").reshape(len(rows), dim)
        person_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        del rows  # the row objects go before matching starts, not with the caller's frame
        usable = usable_rows(encodings, model_id, self.path,
                             lambda bad: sorted({names.get(int(i), f"person {int(i)}") for i in person_ids[bad]}))
        if not usable.all():
            encodings, person_ids = encodings[usable], person_ids[usable]
        return Gallery(encodings, person_ids, names, model_id)

    def _opened_encodings(self, rows: list, id_at: int, blob_at: int, dim: int) -> list[bytes]:
        """The rows' encoding blobs, opened in an encrypted gallery; one that fails
        authentication reads as zeros, which matching leaves out as a damaged template."""
        if self.cipher is None:
            return [r[blob_at] for r in rows]
        opened = (self._unseal_or_none(r[blob_at], encoding_context(r[id_at])) for r in rows)
        return [bytes(dim * 4) if blob is None else blob for blob in opened]

    def _model_dim(self, model_id: str) -> int | None:
        with self._read() as conn:
            row = conn.execute("SELECT dim FROM templates WHERE model_id = %s LIMIT 1", (model_id,)).fetchone()
        return None if row is None else int(row[0])

    def stale_templates(self, model_id: str) -> dict[str, int]:
        """{other model id: template count} for templates ``model_id`` cannot use."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT model_id, COUNT(*) FROM templates WHERE model_id != %s GROUP BY model_id ORDER BY model_id",
                (model_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def stale_people(self, model_id: str) -> dict[str, int]:
        """{name: template count} of the people with templates ``model_id`` cannot use, by name."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT p.name, COUNT(*) FROM templates t JOIN people p ON p.id = t.person_id"
                " WHERE t.model_id != %s GROUP BY p.id, p.name, p.name_key ORDER BY p.name_key",
                (model_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def stale_crops(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredCrop]:
        """Up to ``limit`` templates of other models that kept their crop, by template id
        after ``after_id``: one page of what :meth:`reencode` can bring up to ``model_id``."""
        with self._read("read face crops") as conn:
            rows = conn.execute(
                "SELECT id, person_id, model_id, crop FROM templates"
                " WHERE model_id != %s AND crop IS NOT NULL AND id > %s ORDER BY id LIMIT %s",
                (model_id, int(after_id), int(limit)),
            ).fetchall()
        return [StoredCrop(int(r[0]), int(r[1]), str(r[2]), self._unseal(r[3], crop_context(r[0]))) for r in rows]

    def stale_sources(self, model_id: str, after_id: int = 0, limit: int = 256) -> list[StoredSource]:
        """Like :meth:`stale_crops`, for templates of other models that kept no crop but know their source."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, person_id, model_id, source FROM templates"
                " WHERE model_id != %s AND NOT has_crop AND source IS NOT NULL AND id > %s ORDER BY id LIMIT %s",
                (model_id, int(after_id), int(limit)),
            ).fetchall()
        return [StoredSource(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def stale_without_crop(self, model_id: str) -> int:
        """How many templates of other models kept no crop."""
        with self._read() as conn:
            return int(conn.execute(
                "SELECT COUNT(*) FROM templates WHERE model_id != %s AND NOT has_crop", (model_id,)
            ).fetchone()[0])

    def reencode(self, model_id: str, template_ids: Sequence[int], encodings: np.ndarray,
                 crops: Sequence[bytes | None] | None = None) -> int:
        """Replace templates' encodings with ``model_id``'s, in one transaction; returns how many.

        Only templates still made by another model change; each keeps its person, source and
        quality, and its crop unless ``crops`` gives one.
        """
        if not isinstance(model_id, str) or not model_id.strip():
            raise StoreError("reencode needs the model_id of the encoder that made the encodings")
        enc = check_encodings(encodings)
        if len(template_ids) != len(enc):
            raise StoreError(f"{len(template_ids)} template ids for {len(enc)} encodings")
        crop_list = per_row(crops, len(enc), "crops")
        with self._write("re-encode templates") as conn:
            check_model_dim(conn, model_id, enc.shape[1])
            changed = 0
            for template_id, row, crop in zip(template_ids, enc, crop_list):
                changed += conn.execute(
                    "UPDATE templates SET model_id = %s, dim = %s, encoding = %s, crop = COALESCE(%s, crop)"
                    " WHERE id = %s AND model_id != %s",
                    (model_id, enc.shape[1], self._seal(row.tobytes(), encoding_context(template_id)),
                     self._seal(crop, crop_context(template_id)), int(template_id), model_id),
                ).rowcount
        return changed

    def templates_of(self, name: str, model_id: str) -> np.ndarray:
        """(K, D) float32 templates of one person for one model; K may be 0."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            rows = conn.execute(
                "SELECT dim, encoding, id FROM templates WHERE person_id = %s AND model_id = %s ORDER BY id",
                (person_id, model_id),
            ).fetchall()
        if not rows:
            return np.empty((0, self._model_dim(model_id) or 0), np.float32)
        dim = int(rows[0][0])
        templates = np.frombuffer(b"".join(self._opened_encodings(rows, 2, 1, dim)), dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        return templates[usable_rows(templates, model_id, self.path, lambda bad: [name])]

    def templates(self, name: str) -> list[TemplateInfo]:
        """Every template of one person, of every model, oldest first."""
        with self._read() as conn:
            person_id, _ = person_row(conn, name)
            rows = conn.execute(
                "SELECT id, model_id, dim, encoding, source, quality, created_at, has_crop"
                " FROM templates WHERE person_id = %s ORDER BY id",
                (person_id,),
            ).fetchall()
        return [
            TemplateInfo(int(r[0]), str(r[1]), str(r[4] or ""), None if r[5] is None else float(r[5]), iso(r[6]),
                         bool(r[7]), damaged=not is_unit_blob(self._unseal_or_none(r[3], encoding_context(r[0])), r[2]))
            for r in rows
        ]

    def template_crop(self, name: str, template_id: int) -> bytes | None:
        """The kept face crop (image bytes) of one of ``name``'s templates, None if none was kept."""
        with self._read("read face crops") as conn:
            person_id, stored = person_row(conn, name)
            row = conn.execute(
                "SELECT crop FROM templates WHERE id = %s AND person_id = %s", (int(template_id), person_id)
            ).fetchone()
        if row is None:
            raise StoreError(f"{stored} has no template {template_id}")
        return self._unseal(row[0], crop_context(template_id))

    def delete_template(self, name: str, template_id: int) -> int:
        """Erase one template of ``name``; returns how many templates that person has left.
        The thumbnail becomes the best remaining kept crop, or none."""
        with self._write("delete templates") as conn:
            person_id, stored = person_row(conn, name)
            gone = conn.execute(
                "DELETE FROM templates WHERE id = %s AND person_id = %s", (int(template_id), person_id)
            ).rowcount
            if not gone:
                raise StoreError(f"{stored} has no template {template_id}; "
                                 f"list theirs with 'faceapp people templates \"{stored}\"'")
            self._thumbnail_from_best_crop(conn, person_id)
            return int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = %s", (person_id,)).fetchone()[0])


def _literal(conn, value: str) -> str:
    """``value`` as an SQL literal: COPY takes no bound parameters."""
    from psycopg import sql

    return sql.Literal(value).as_string(conn)
