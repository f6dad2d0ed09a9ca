"""Opening a SQLite gallery file, and the transaction and error rules every part of the SQLite
store shares.

One SQLite file (through sqlite-utils), in WAL mode so the GUI and a CLI can have it open
at once. Every sqlite3 error is turned into a StoreError that names the file and says
what to do, because a face database that is damaged, locked or from a newer version is
something a user meets, not a programming error.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlite_utils

from ..errors import StoreError
from .common import log
from .sqlite_crypto import connect as connect_encrypted
from .sqlite_crypto import check_key, error_types, is_plain_sqlite, looks_encrypted, needs_key, wrong_key
from .sqlite_schema import check_file, migrate, user_version

DEFAULT_BUSY_TIMEOUT_MS = 2000
MEMORY = ":memory:"
# typing.Self needs Python 3.11; faceapp supports 3.10.
_Connection = TypeVar("_Connection", bound="SqliteConnection")


def _error_name(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def translate(exc: Exception, path: object, busy_timeout_ms: int, encrypted: bool = False) -> StoreError:
    """A StoreError a user can act on, for any sqlite3 (or SQLCipher) error on the database at
    ``path``; ``encrypted``: it was opened with a key, so 'not a database' means a wrong key."""
    name = _error_name(exc)
    text = str(exc)
    if encrypted and (name.startswith("SQLITE_NOTADB") or "file is not a database" in text):
        return wrong_key(path)
    if encrypted and text == "SQL logic error":  # SQLCipher's only word for a page that fails its HMAC
        return StoreError(f"{path}: the database is damaged or was altered (a page failed its authentication "
                          "check). Restore a backup or start a new one (--db, or Settings in the window)")
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
    if type(exc).__name__ == "ProgrammingError" and "closed" in text:  # sqlite3's or SQLCipher's
        return StoreError(f"{path}: the database was closed; open it again")
    return StoreError(f"{path}: database error: {text}")


def create_private_file(path: Path) -> None:
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


def _locate(path: str | Path, create: bool) -> Path | str:
    """Where to connect: ':memory:', or the expanded file path, made (private) if allowed."""
    if str(path) == MEMORY:
        return MEMORY
    where = Path(path).expanduser()
    if where.is_dir():
        raise StoreError(f"{where}: is a folder, not a database file")
    if not where.exists():
        if not create:
            raise StoreError(f"{where}: no such database; enroll someone first or check the path (--db, or Settings in the window)")
        try:
            where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            blocking = next((p for p in (where.parent, *where.parent.parents) if p.is_file()), None)
            if blocking is not None:  # 'x.db/sub.db': mkdir says only 'File exists'
                raise StoreError(f"{blocking}: is a file, so it cannot hold {where.name}; check the path") from None
            raise StoreError(f"{where.parent}: cannot create the folder ({exc.strerror})") from exc
        create_private_file(where)
    return where


class SqliteConnection:
    """One sqlite3 connection to a faceapp file: opening, closing, transactions and error
    translation. The parts of the SQLite store (people, templates, events) build on it.

    It wraps one sqlite3 connection, so use it from one thread; another thread or process
    opens its own (WAL lets readers and one writer share the file).
    """

    station: str | None = None  # names this station in every event it logs (open's ``station``)
    schema_versions: tuple[int, int] = (0, 0)  # (found when opened, now): see GalleryStore

    def __init__(self, db: sqlite_utils.Database, path: Path | str, busy_timeout_ms: int,
                 encrypted: bool = False) -> None:
        self.db = db
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.encrypted = encrypted  # SQLCipher: its connection raises its own exception classes
        self._error_types: tuple[type[Exception], ...] = error_types() if encrypted else (sqlite3.Error,)

    @classmethod
    def open(
        cls: type[_Connection],
        path: str | Path,
        *,
        create: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        key: str | None = None,
        station: str | None = None,
    ) -> _Connection:
        """Open (and with ``create`` make) the database, check it and bring its schema up to date.

        Nothing is written to a file that turns out not to be a healthy faceapp database,
        so a wrong --db never destroys someone's file. ``key`` opens an encrypted (SQLCipher)
        file, and a new or empty one is made encrypted with it; a plain file opens as it is,
        key or not ('faceapp db encrypt' converts it).
        """
        if key is not None:
            check_key(key)  # before a new file is made for it
        where = _locate(path, create)
        encrypted = False
        if isinstance(where, Path):
            if key is None and looks_encrypted(where):
                raise needs_key(where)
            encrypted = key is not None and not is_plain_sqlite(where)
        try:
            if encrypted:
                conn = connect_encrypted(where, key, busy_timeout_ms / 1000.0)
            else:
                conn = sqlite3.connect(str(where), timeout=busy_timeout_ms / 1000.0, isolation_level=None)
        except (sqlite3.Error, *(error_types() if encrypted else ())) as exc:
            raise translate(exc, where, busy_timeout_ms, encrypted) from exc
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        store = cls(db, where, busy_timeout_ms, encrypted)
        store.station = station
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
            # Deleted rows are overwritten with zeros, not just unlinked: an erased person's
            # name, encodings and crops must not stay readable in free space.
            self.db.execute("PRAGMA secure_delete = ON")
            check_file(self.db, self.path)
            self.db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL never corrupts; it only may lose the last commit on power
            # loss, and saves an fsync per enrolment/event.
            self.db.execute("PRAGMA synchronous = NORMAL")
            found = user_version(self.db)
            migrate(self.db, self._write)
            self.schema_versions = (found, user_version(self.db))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._error_types as exc:
            raise translate(exc, self.path, self.busy_timeout_ms, self.encrypted) from exc

    def _erase_traces(self) -> bool:
        """After a deletion: copy the WAL (which still holds the rows as they were before)
        into the file and cut it to nothing, so the deleted bytes are left nowhere. Returns
        False, with a warning, when another connection's open read kept old copies in the WAL
        (they go when it checkpoints or closes)."""
        if self.path == MEMORY:
            return True
        with self._errors():
            busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("%s: another connection is reading the database, so copies of what was just "
                        "deleted stay in its -wal file until that connection closes", self.path)
        return not busy

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

    def retry_now(self) -> None:
        """A local file has no server to wait for."""

    def close(self) -> None:
        """Close the connection (idempotent); the last one out checkpoints the WAL."""
        try:
            self.db.conn.close()
        except self._error_types:
            pass

    def __enter__(self: _Connection) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
