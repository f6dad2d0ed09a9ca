"""The local database of enrolled people, their face templates and an event log.

One SQLite file (through sqlite-utils), in WAL mode so the GUI and a CLI can have it open
at once. Every sqlite3 error is turned into a StoreError that names the file and says
what to do, because a face database that is damaged, locked or from a newer version is
something a user meets, not a programming error. Encodings are stored as little-endian
float32 bytes (never pickles), tagged with the model that made them: templates from
another model are never compared, only counted as stale. A template can keep the aligned
face crop it was made from (lossless image bytes), so that a new model re-encodes it
(``faceapp reencode``) instead of everyone enrolling again.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from .errors import StoreError, UnknownPersonError
from .match import UNIT_TOLERANCE, Gallery, unit_row_mask

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 100
EVENT_KINDS = ("verify", "identify", "enroll")
# PRAGMA application_id marks the file as faceapp's, so another program's database is refused.
APPLICATION_ID = 0x46414345  # "FACE"
DEFAULT_BUSY_TIMEOUT_MS = 2000
_MEMORY = ":memory:"


def _now() -> str:
    """ISO-8601 UTC with milliseconds: sortable as text and unambiguous across time zones."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def name_key(name: str) -> str:
    """The case-insensitive identity of a name.

    SQLite's NOCASE only folds ASCII, so 'ZOË' and 'zoë' would be two people; the key
    (NFKC + casefold) is what uniqueness and look-ups use.
    """
    return unicodedata.normalize("NFKC", name).casefold()


# Invisible characters that copy-paste brings along (web pages, spreadsheets) and that would make
# "Ann" and "Ann\u200b" two people who look the same: dropped. ZWJ and ZWNJ stay, since some
# scripts spell with them.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff\u200e\u200f\u061c"))
# Bidirectional embeddings, overrides and isolates can make a name display as another: refused.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(name: str) -> str:
    """NFC, invisible characters dropped, whitespace stripped and collapsed: the form names are
    stored in and looked up by."""
    return " ".join(unicodedata.normalize("NFC", name).translate(_INVISIBLE).split())


def validate_name(name: str) -> str:
    """The cleaned name to store, or StoreError saying why it cannot be a person's name.

    Cleans it with :func:`clean_name` (so visually equal names are equal); rejects empty
    names, names over 100 characters, control characters, text-direction overrides and names
    with no letter or digit. Any script is fine ('Zoë Ångström', '李雷').
    """
    if not isinstance(name, str):
        raise StoreError(f"a name must be text, not {type(name).__name__}")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs"):
            raise StoreError(f"the name {name!r} contains a control character ({ch!r}); type it on one line")
        if ch in _BIDI_CONTROLS:
            raise StoreError(f"the name {name!r} contains a text-direction control (U+{ord(ch):04X}), which can "
                             "make it display as another name; type it without one")
    cleaned = clean_name(name)
    if not cleaned:
        raise StoreError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise StoreError(f"a name can be at most {MAX_NAME_LENGTH} characters (this one has {len(cleaned)})")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in cleaned):
        raise StoreError(f"the name {cleaned!r} needs at least one letter or digit")
    return cleaned


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


# ---------------------------------------------------------------------------------------
# Schema migrations. Each function moves the schema from version i to i + 1 and runs in
# its own transaction together with the PRAGMA user_version bump, so a crash leaves the
# database at a whole version. Append new migrations; never edit a released one.


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name_key TEXT NOT NULL UNIQUE,
            created_at TEXT,
            thumbnail BLOB
        )"""
    )
    db.execute(
        """CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            encoding BLOB NOT NULL,
            source TEXT,
            quality REAL,
            created_at TEXT
        )"""
    )
    db.execute("CREATE INDEX templates_model_person ON templates(model_id, person_id)")
    # Foreign keys need an index on the child column, or deleting a person scans all templates.
    db.execute("CREATE INDEX templates_person ON templates(person_id)")
    db.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            name TEXT,
            decision TEXT,
            distance REAL,
            source TEXT
        )"""
    )
    db.execute("CREATE INDEX events_person ON events(person_id)")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _m2_template_crops(db: sqlite_utils.Database) -> None:
    # NULL for templates enrolled before crops were kept: those cannot be re-encoded.
    db.execute("ALTER TABLE templates ADD COLUMN crop BLOB")


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_m1_initial, _m2_template_crops)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------------------------------


def _error_name(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def _translate(exc: sqlite3.Error, path: object, busy_timeout_ms: int) -> StoreError:
    """A StoreError a user can act on, for any sqlite3 error on the database at ``path``."""
    name = _error_name(exc)
    text = str(exc)
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        return StoreError(
            f"{path}: the database is locked ({text}, waited {busy_timeout_ms} ms); "
            "another faceapp may be using it. Close it and try again"
        )
    if name.startswith("SQLITE_NOTADB") or "file is not a database" in text:
        return StoreError(
            f"{path}: this file is not a faceapp database (not SQLite: {text}). "
            "Choose another database file (--db, or Settings in the window)"
        )
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return StoreError(
            f"{path}: the database is damaged ({text}). Restore a backup or start a new one (--db, or Settings in the window)"
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return StoreError(f"{path}: cannot open the database ({text}); check the path and its permissions")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"{path}: the database is read-only ({text}); check the file's permissions")
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(f"{path}: the disk is full ({text}); free some space and try again")
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
        return StoreError(f"{path}: the database was closed; open it again")
    return StoreError(f"{path}: database error: {text}")


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable by its owner only, before SQLite opens it.

    Templates are biometric data. SQLite gives its -wal/-shm files the database file's
    mode, so setting it here covers those too. An existing file is left alone.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database ({exc.strerror})") from exc
    os.close(fd)


class Store:
    """An open faceapp database. Make one with ``Store.open(path)``; use ``with`` to close it.

    A Store wraps one sqlite3 connection, so use it from one thread; another thread or
    process opens its own Store on the same file (WAL lets readers and one writer share it).
    """

    def __init__(self, db: sqlite_utils.Database, path: Path | str, busy_timeout_ms: int) -> None:
        self.db = db
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Store:
        """Open (and with ``create`` make) the database, check it and bring its schema up to date.

        Nothing is written to a file that turns out not to be a healthy faceapp database,
        so a wrong --db never destroys someone's file.
        """
        memory = str(path) == _MEMORY
        where: Path | str = _MEMORY if memory else Path(path).expanduser()
        if not memory:
            assert isinstance(where, Path)
            if where.is_dir():
                raise StoreError(f"{where}: is a folder, not a database file")
            if not where.exists():
                if not create:
                    raise StoreError(f"{where}: no such database; enroll someone first or check the path (--db, or Settings in the window)")
                try:
                    where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                except OSError as exc:
                    raise StoreError(f"{where.parent}: cannot create the folder ({exc.strerror})") from exc
                _create_private_file(where)
        try:
            conn = sqlite3.connect(
                str(where), timeout=busy_timeout_ms / 1000.0, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise _translate(exc, where, busy_timeout_ms) from exc
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        store = cls(db, where, busy_timeout_ms)
        try:
            store._prepare()
        except BaseException:
            conn.close()
            raise
        return store

    def _prepare(self) -> None:
        with self._errors():
            self.db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            # Reads the header: a file that is not SQLite fails here, before anything is written.
            version = self._user_version()
            app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
            if app_id not in (0, APPLICATION_ID):
                raise StoreError(
                    f"{self.path}: this SQLite file belongs to another program "
                    f"(application_id {app_id:#x}). Choose another database file (--db, or Settings in the window)"
                )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: the database was made by a newer faceapp (schema {version}, "
                    f"this one knows up to {SCHEMA_VERSION}). Upgrade faceapp"
                )
            if version == 0 and self.db.table_names():
                raise StoreError(
                    f"{self.path}: this SQLite file holds tables that are not faceapp's "
                    f"({', '.join(self.db.table_names()[:5])}). Choose another database file (--db, or Settings in the window)"
                )
            # Catches damaged pages that opening alone never reads (a template table, say).
            problems = [" ".join(str(row[0]).split()) for row in self.db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StoreError(
                    f"{self.path}: the database is damaged ({'; '.join(problems[:3])}). "
                    "Restore a backup or start a new one (--db, or Settings in the window)"
                )
            self.db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL never corrupts; it only may lose the last commit on power
            # loss, and saves an fsync per enrolment/event (FULL made each ~20 ms).
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()

    def _user_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        for target in range(1, SCHEMA_VERSION + 1):
            if self._user_version() >= target:
                continue
            with self._write():
                # Re-read under the write lock: another process may have migrated meanwhile.
                if self._user_version() >= target:
                    continue
                MIGRATIONS[target - 1](self.db)
                self.db.execute(f"PRAGMA user_version = {target}")

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, self.busy_timeout_ms) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of the block or none of it.

        BEGIN IMMEDIATE takes the write lock up front, so a busy database makes us wait
        busy_timeout here instead of failing half-way with a lock upgrade error.
        """
        conn = self.db.conn
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so several queries see one consistent snapshot."""
        conn = self.db.conn
        with self._errors():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent); the last one out checkpoints the WAL."""
        try:
            self.db.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _person_row(self, conn: sqlite3.Connection, name: str) -> tuple[int, str]:
        """(id, stored name) of ``name``, compared case-insensitively, or UnknownPersonError."""
        if not isinstance(name, str):
            raise UnknownPersonError(f"no person named {name!r} is enrolled")
        cleaned = clean_name(name)
        row = conn.execute("SELECT id, name FROM people WHERE name_key = ?", (name_key(cleaned),)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {cleaned or name!r} is enrolled")
        return int(row[0]), str(row[1])

    # -- people -----------------------------------------------------------------------

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
        enc = _check_encodings(encodings)
        n, dim = enc.shape
        source_list = _per_row(sources, n, "sources")
        quality_list = _per_row(qualities, n, "qualities")
        crop_list = _per_row(crops, n, "crops")
        for crop in crop_list:
            if crop is not None and not isinstance(crop, (bytes, bytearray, memoryview)):
                raise StoreError(f"a template's crop must be image bytes, not {type(crop).__name__}")
        for q in quality_list:
            if q is not None and not math.isfinite(float(q)):
                raise StoreError(f"template qualities must be finite numbers, got {q!r}")
        if thumbnail is not None and not isinstance(thumbnail, (bytes, bytearray, memoryview)):
            raise StoreError(f"a thumbnail must be image bytes, not {type(thumbnail).__name__}")
        now = _now()
        with self._write() as conn:
            row = conn.execute("SELECT id, name FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
            if row is not None and new_person:
                raise StoreError(f"{row[1]!r} is already enrolled; pick another name or add to them")
            if row is None:
                person_id = int(
                    conn.execute(
                        "INSERT INTO people (name, name_key, created_at, thumbnail) VALUES (?, ?, ?, ?)",
                        (name, name_key(name), now, None if thumbnail is None else bytes(thumbnail)),
                    ).lastrowid
                )
                stored_name, decision = name, "new person"
            else:
                person_id, stored_name, decision = int(row[0]), str(row[1]), "added"
                if thumbnail is not None:
                    conn.execute("UPDATE people SET thumbnail = ? WHERE id = ?", (bytes(thumbnail), person_id))
            self._check_model_dim(conn, model_id, dim)
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
                        now,
                        None if crop_list[i] is None else bytes(crop_list[i]),
                    )
                    for i in range(n)
                ),
            )
            distinct_sources = {s for s in source_list if s is not None}
            self._insert_event(
                conn,
                "enroll",
                person_id=person_id,
                name=stored_name,
                decision=f"{decision}, {n} template{'s' if n != 1 else ''}",
                distance=None,
                source=distinct_sources.pop() if len(distinct_sources) == 1 else None,
            )
        return person_id

    @staticmethod
    def _check_model_dim(conn: sqlite3.Connection, model_id: str, dim: int) -> None:
        # Every template of a model has the same dim (enforced here), so one row tells it;
        # "AND dim != ?" would make SQLite read every template of the model on each write.
        known = conn.execute("SELECT dim FROM templates WHERE model_id = ? LIMIT 1", (model_id,)).fetchone()
        if known is not None and int(known[0]) != dim:
            raise StoreError(
                f"model {model_id!r} makes {known[0]}-D encodings but these are {dim}-D; "
                "they come from a different model"
            )

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
            person_id, _ = self._person_row(conn, name)
            r = conn.execute(
                """SELECT p.id, p.name, (SELECT COUNT(*) FROM templates t WHERE t.person_id = p.id),
                          p.created_at, p.thumbnail IS NOT NULL
                   FROM people p WHERE p.id = ?""",
                (person_id,),
            ).fetchone()
        return PersonInfo(int(r[0]), str(r[1]), int(r[2]), str(r[3] or ""), bool(r[4]))

    def has_person(self, name: str) -> bool:
        try:
            self.person(name)
        except UnknownPersonError:
            return False
        return True

    def thumbnail(self, name: str) -> bytes | None:
        """The stored thumbnail image bytes, or None when the person has none."""
        with self._read() as conn:
            person_id, _ = self._person_row(conn, name)
            blob = conn.execute("SELECT thumbnail FROM people WHERE id = ?", (person_id,)).fetchone()[0]
        return None if blob is None else bytes(blob)

    def rename(self, old: str, new: str) -> None:
        """Rename a person; past events keep the name they were logged under."""
        new = validate_name(new)
        with self._write() as conn:
            person_id, _ = self._person_row(conn, old)
            taken = conn.execute(
                "SELECT name FROM people WHERE name_key = ? AND id != ?", (name_key(new), person_id)
            ).fetchone()
            if taken is not None:
                raise StoreError(f"{taken[0]!r} is already enrolled; pick another name")
            conn.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?", (new, name_key(new), person_id))

    def delete(self, name: str) -> int:
        """Erase a person and all their templates; returns how many templates went.

        Their events stay in the log under the name they were logged with (person_id NULL).
        """
        with self._write() as conn:
            person_id, _ = self._person_row(conn, name)
            count = int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = ?", (person_id,)).fetchone()[0])
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        return count

    # -- templates --------------------------------------------------------------------

    def gallery(self, model_id: str) -> Gallery:
        """Every template made by ``model_id``, as one matrix ready for matching.

        One query; the blobs are joined and read with one frombuffer, so 100k templates
        load in well under a second. Templates of other models are left out (see
        stale_templates).
        """
        with self._read() as conn:
            rows = conn.execute(
                # (person_id, id) is the index's own order, so SQLite sorts nothing.
                "SELECT person_id, dim, encoding FROM templates WHERE model_id = ? ORDER BY person_id, id",
                (model_id,),
            ).fetchall()
            names = dict(conn.execute("SELECT id, name FROM people").fetchall())
        if not rows:
            return Gallery.empty(0, model_id)
        dims = {int(r[1]) for r in rows}
        if len(dims) != 1:
            raise StoreError(
                f"{self.path}: templates of model {model_id!r} have mixed dimensions {sorted(dims)}; "
                "the database is damaged. Restore a backup or re-enroll"
            )
        dim = dims.pop()
        blob = b"".join(r[2] for r in rows)
        if len(blob) != len(rows) * dim * 4:
            raise StoreError(
                f"{self.path}: a template of model {model_id!r} has the wrong size; "
                "the database is damaged. Restore a backup or re-enroll"
            )
        encodings = np.frombuffer(blob, dtype="<f4").reshape(len(rows), dim)
        person_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        usable = self._usable(encodings, model_id,
                              lambda bad: sorted({names.get(int(i), f"person {int(i)}") for i in person_ids[bad]}))
        if not usable.all():  # index only then: a healthy gallery stays a view of the blob, not a copy
            encodings, person_ids = encodings[usable], person_ids[usable]
        return Gallery(encodings, person_ids, names, model_id)

    def _usable(self, encodings: np.ndarray, model_id: str, owners: Callable[[np.ndarray], list[str]]) -> np.ndarray:
        """The rows matching can use. One damaged row must not stop matching for everyone: it
        is left out (it stays in the file, nothing is deleted) and ``owners(damaged_mask)``
        names whose it is, so they can enroll again."""
        usable = unit_row_mask(encodings)
        if not usable.all():
            log.warning("%s: %d damaged template(s) of model %s left out of matching, of: %s. "
                        "Their other templates still match; 'faceapp people templates NAME' shows which, "
                        "'faceapp people remove-template NAME ID' removes one",
                        self.path, int((~usable).sum()), model_id, ", ".join(owners(~usable)))
        return usable

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
        enc = _check_encodings(encodings)
        if len(template_ids) != len(enc):
            raise StoreError(f"{len(template_ids)} template ids for {len(enc)} encodings")
        crop_list = _per_row(crops, len(enc), "crops")
        with self._write() as conn:
            self._check_model_dim(conn, model_id, enc.shape[1])
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
            person_id, _ = self._person_row(conn, name)
            rows = conn.execute(
                "SELECT dim, encoding FROM templates WHERE person_id = ? AND model_id = ? ORDER BY id",
                (person_id, model_id),
            ).fetchall()
        if not rows:
            return np.empty((0, self._model_dim(model_id) or 0), np.float32)
        dim = int(rows[0][0])
        templates = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        return templates[self._usable(templates, model_id, lambda bad: [name])]

    def templates(self, name: str) -> list[TemplateInfo]:
        """Every template of one person, of every model, oldest first."""
        with self._read() as conn:
            person_id, _ = self._person_row(conn, name)
            rows = conn.execute(
                "SELECT id, model_id, dim, encoding, source, quality, created_at, crop IS NOT NULL"
                " FROM templates WHERE person_id = ? ORDER BY id",
                (person_id,),
            ).fetchall()
        return [
            TemplateInfo(int(r[0]), str(r[1]), str(r[4] or ""), None if r[5] is None else float(r[5]),
                         str(r[6] or ""), bool(r[7]), damaged=not _is_unit_blob(r[3], r[2]))
            for r in rows
        ]

    def template_crop(self, name: str, template_id: int) -> bytes | None:
        """The kept face crop (image bytes) of one of ``name``'s templates, None if none was kept."""
        with self._read() as conn:
            person_id, stored = self._person_row(conn, name)
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
            person_id, stored = self._person_row(conn, name)
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
            return int(conn.execute("SELECT COUNT(*) FROM templates WHERE person_id = ?", (person_id,)).fetchone()[0])

    # -- events -----------------------------------------------------------------------

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
        """Record a verify/identify/enroll decision; returns the event id.

        The name text is stored with the event (filled in from person_id when missing),
        so the log still says who it was after the person is deleted.
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        with self._write() as conn:
            if person_id is not None:
                row = conn.execute("SELECT name FROM people WHERE id = ?", (int(person_id),)).fetchone()
                if row is None:
                    person_id = None  # deleted meanwhile; keep the name text only
                elif name is None:
                    name = str(row[0])
            elif name is not None:
                row = conn.execute("SELECT id FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
                person_id = None if row is None else int(row[0])
            return self._insert_event(
                conn, kind, person_id=person_id, name=name, decision=decision, distance=distance, source=source
            )

    @staticmethod
    def _insert_event(
        conn: sqlite3.Connection,
        kind: str,
        *,
        person_id: int | None,
        name: str | None,
        decision: str | None,
        distance: float | None,
        source: str | None,
    ) -> int:
        if distance is not None:
            distance = float(distance)
            if not math.isfinite(distance):
                distance = None  # inf = "nobody enrolled"; SQL has no portable infinity
        cur = conn.execute(
            "INSERT INTO events (at, kind, person_id, name, decision, distance, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), kind, person_id, name, decision, distance, source),
        )
        return int(cur.lastrowid)

    def events(self, limit: int = 100, name: str | None = None) -> list[dict]:
        """The newest ``limit`` events first, optionally only one person's.

        Filtering by name finds events logged under that name (also of deleted people)
        and events of the person now carrying it (also from before a rename).
        """
        if int(limit) < 0:
            raise ValueError("limit must be >= 0")
        sql = "SELECT id, at, kind, person_id, name, decision, distance, source FROM events"
        params: list = []
        if name is not None:
            key = name_key(clean_name(name))
            sql += (
                " WHERE name = ? COLLATE NOCASE"
                " OR person_id = (SELECT id FROM people WHERE name_key = ?)"
            )
            params += [clean_name(name), key]
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        with self._errors():
            return list(self.db.query(sql, params))


def _is_unit_blob(blob: object, dim: object) -> bool:
    """Whether a stored encoding blob holds ``dim`` little-endian float32s of unit length."""
    if not isinstance(blob, bytes) or not isinstance(dim, int) or dim <= 0 or len(blob) != dim * 4:
        return False
    return bool(unit_row_mask(np.frombuffer(blob, dtype="<f4").reshape(1, dim))[0])


def _check_encodings(encodings: np.ndarray) -> np.ndarray:
    """Valid encodings as an (N, D) little-endian float32 array, or StoreError saying what is wrong."""
    try:
        arr = np.asarray(encodings)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"encodings must be a numeric (N, D) array ({exc})") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise StoreError(f"encodings must be an (N, D) array, got shape {np.shape(encodings)}")
    if arr.shape[0] == 0:
        raise StoreError("there are no encodings to enroll")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise StoreError(f"encodings must be numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype="<f4")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise StoreError(f"encoding {int(np.argmax(bad)) + 1} of {arr.shape[0]} contains NaN or infinite values")
    norms = np.linalg.norm(arr.astype(np.float64), axis=1)
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise StoreError(f"encoding {i + 1} of {arr.shape[0]} is not L2-normalised (norm {norms[i]:.4g})")
    return arr


def _per_row(values: Sequence | None, n: int, what: str) -> list:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise StoreError(f"{what} has {len(values)} entries for {n} encodings")
    return values
