"""Encryption at rest of a SQLite gallery, through SQLCipher (the ``sqlcipher3`` module).

SQLCipher encrypts every page of the file and of its WAL (AES-256, each page authenticated
with an HMAC), so names, events, indexes and free pages are covered as well as encodings and
crops, and a damaged or tampered page is refused rather than read. Field-level encryption
would have left the names and the log of who was where in plain text.

A key is the text given to ``PRAGMA key``: a passphrase (SQLCipher derives the key with
PBKDF2, which takes a noticeable moment at every open), or ``x'<64 hex digits>'``, a raw
256-bit key used as it is (what :func:`new_raw_key` makes for the system keyring).

Converting a file (:func:`convert`) writes the new copy beside it, checks that it opens and
holds every row, and only then puts it in the file's place: a failure at any step leaves the
original exactly as it was and no half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
import stat
from pathlib import Path
from types import ModuleType

from ..errors import StoreError
from .records import TRANSFER_COLUMNS
from .sqlite_schema import APPLICATION_ID, SCHEMA_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
# Every SQLite (and SQLCipher) page size is a power of two from 512 up, and a database file is
# a whole number of pages: a file that is not is neither, whatever its header says.
SMALLEST_PAGE = 512
TABLES = tuple(TRANSFER_COLUMNS)  # counted before and after a conversion: every table of a gallery
KEY_HINT = ("give its key in FACEAPP_DB_KEY, or keep it in the system keyring "
            "(where 'faceapp db encrypt' puts the key it makes)")


class DatabaseKeyError(StoreError):
    """An encrypted database opened without a key, or with one that does not decrypt it."""


def sqlcipher() -> ModuleType:
    """The SQLCipher DB-API module, or StoreError saying how to get it."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError as exc:
        raise StoreError(f"encrypted databases need SQLCipher, which is not installed ({exc}): "
                         "pip install sqlcipher3-binary (Linux x86-64), or sqlcipher3 built against "
                         "the SQLCipher library elsewhere") from None
    return dbapi2


def error_types() -> tuple[type[Exception], ...]:
    """The exceptions a SQLCipher connection raises (its own classes, not sqlite3's)."""
    module = sqlcipher()
    return (sqlite3.Error, module.Error)


def new_raw_key() -> str:
    """A random 256-bit key in SQLCipher's raw form, so opening skips the passphrase derivation."""
    return f"x'{secrets.token_hex(32)}'"


def looks_encrypted(path: Path) -> bool:
    """Whether ``path`` looks like an encrypted database, without its key: sized like a
    database (whole pages), not plain SQLite, and its first page as random as ciphertext is.
    Every byte of a SQLCipher page is ciphertext (or the random salt), so no 16-byte block
    of it repeats; text, images and patterned junk repeat some, and stay "not a database"."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            first = f.read(4096)
    except OSError:
        return False
    if size < SMALLEST_PAGE or size % SMALLEST_PAGE or first.startswith(SQLITE_HEADER):
        return False
    blocks = [first[i : i + 16] for i in range(0, len(first) - 15, 16)]
    return len(set(blocks)) == len(blocks)


def is_plain_sqlite(path: Path) -> bool:
    """Whether ``path`` starts with the plain SQLite header."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


_RAW_KEY_LIKE = re.compile(r"^[xX]'.*'$", re.DOTALL)
_RAW_KEY = re.compile(r"^[xX]'(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{96})'$")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_key(key: object) -> None:
    """DatabaseKeyError unless ``key`` is text SQLCipher takes as the user meant it."""
    if not isinstance(key, str) or not key:
        raise DatabaseKeyError("the database key must be non-empty text")
    if _RAW_KEY_LIKE.match(key) and not _RAW_KEY.match(key):  # SQLCipher would take it for a passphrase
        raise DatabaseKeyError("the database key looks like a raw key but is not x'<64 hex digits>' "
                               "(or x'<96 hex digits>' with a salt); give it whole, or a passphrase")


def apply_key(conn: object, key: str) -> None:
    """Give ``conn`` (a fresh SQLCipher connection) its key, before anything reads the file."""
    check_key(key)
    # SQLCipher writes every decryption failure to stderr itself; faceapp's one-line error says it.
    conn.execute("PRAGMA cipher_log_level = NONE")  # type: ignore[attr-defined]
    conn.execute(f"PRAGMA key = {_quote(key)}")  # type: ignore[attr-defined]


def connect(path: Path | str, key: str, timeout_s: float) -> object:
    """A SQLCipher connection to ``path`` with ``key`` applied (nothing read yet)."""
    module = sqlcipher()
    conn = module.connect(str(path), timeout=timeout_s, isolation_level=None)
    try:
        apply_key(conn, key)
    except BaseException:
        conn.close()
        raise
    return conn


def wrong_key(path: object) -> DatabaseKeyError:
    return DatabaseKeyError(f"{path}: cannot decrypt the database: the key is wrong, or the file is damaged "
                            f"or not an encrypted faceapp database; {KEY_HINT}")


def needs_key(path: object) -> DatabaseKeyError:
    return DatabaseKeyError(f"{path}: the database is encrypted (or is not a database at all); {KEY_HINT}")


def _counts(conn: object) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[attr-defined]


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def convert(path: Path, *, key_from: str | None, key_to: str | None, busy_timeout_ms: int = 2000) -> dict[str, int]:
    """Rewrite the faceapp database at ``path`` encrypted with ``key_to`` (None: plain SQLite),
    reading it with ``key_from`` (None: it is plain now); returns the rows per table it holds.

    The file must be a healthy faceapp database at the current schema (open it through the
    store first, which migrates it) that no other connection has open: taking it out of WAL
    mode needs it to itself, and from then until the new copy replaces it no one else can
    read or write it.
    """
    from .sqlite_connection import translate  # it imports this module

    try:
        return _convert(Path(path), key_from, key_to, busy_timeout_ms)
    except error_types() as exc:
        raise translate(exc, path, busy_timeout_ms, encrypted=key_from is not None) from exc


def _convert(path: Path, key_from: str | None, key_to: str | None, busy_timeout_ms: int) -> dict[str, int]:
    module = sqlcipher()
    converted = path.with_name(path.name + ".converting")
    with contextlib.suppress(FileNotFoundError):
        converted.unlink()  # the leftover of a conversion killed half-way; the original is intact
    timeout_s = busy_timeout_ms / 1000.0
    source = module.connect(str(path), timeout=timeout_s, isolation_level=None)
    try:
        if key_from is not None:
            apply_key(source, key_from)
        mode = source.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise StoreError(f"{path}: the database is in use; close every faceapp using it and try again")
        # Held from the first write until the connection closes: nobody reads a file about to go.
        source.execute("PRAGMA locking_mode = EXCLUSIVE")
        source.execute("BEGIN EXCLUSIVE")
        source.execute("COMMIT")
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise StoreError(f"{path}: the database is at schema {version}, not {SCHEMA_VERSION}; open it with "
                             "this faceapp once first")
        expected = _counts(source)
        fd = os.open(converted, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(path.stat().st_mode))
        os.close(fd)
        try:
            source.execute(f"ATTACH DATABASE {_quote(str(converted))} AS converted KEY {_quote(key_to or '')}")
            source.execute("SELECT sqlcipher_export('converted')")
            # sqlcipher_export copies the schema and rows, not the header's numbers.
            source.execute(f"PRAGMA converted.user_version = {version}")
            source.execute(f"PRAGMA converted.application_id = {APPLICATION_ID}")
            source.execute("DETACH DATABASE converted")
            _check_copy(converted, key_to, expected, timeout_s)
            _sync(converted)
            os.replace(converted, path)
        except BaseException:
            with contextlib.suppress(OSError):
                converted.unlink()
            raise
        with contextlib.suppress(OSError):
            _sync(path.parent)
    finally:
        source.close()
    return expected


def _check_copy(copy: Path, key: str | None, expected: dict[str, int], timeout_s: float) -> None:
    """StoreError unless ``copy`` opens with ``key`` (plain SQLite when None), passes the
    integrity check and holds as many rows per table as the original."""
    conn = connect(copy, key, timeout_s) if key is not None else sqlite3.connect(str(copy), timeout=timeout_s)
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]  # type: ignore[attr-defined]
        counts = _counts(conn)
    finally:
        conn.close()  # type: ignore[attr-defined]
    if problems != ["ok"] or counts != expected:
        raise StoreError(f"{copy}: the converted copy is not whole ({'; '.join(problems[:3])}; rows {counts}, "
                         f"expected {expected}); the original was left as it was")
