"""Face data at rest, as use-cases for both front ends: opening a database with its key,
encrypting and decrypting it, and the retention period (a person's own data as one zip is
:mod:`.person_export`).

The key of an encrypted database comes from ``FACEAPP_DB_KEY`` (the configuration's
``db_key``; for machines without a desktop) or else from the system keyring (``keyring``),
where ``faceapp db encrypt`` keeps the random key it makes, one per database file (for a
PostgreSQL gallery, whose face data each station seals itself, the entry is the server's
URL without its password). The keyring
is asked only for a file that is encrypted, so plain databases never touch it.

Deleting a person (Database.delete) already erases them: see GalleryStore.delete.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import FaceAppError, NotPermittedError, StoreError
from ..storage import display_target, is_postgres_url
from ..storage.sqlite_crypto import DatabaseKeyError, convert, looks_encrypted, needs_key, new_raw_key
from .config import DB_KEY_ENV, AppConfig
from .database import Database

log = logging.getLogger(__name__)

KEYRING_SERVICE = "faceapp"
PURGE_EVERY = timedelta(days=1)


class PrivacyError(FaceAppError):
    """A privacy action that cannot be done as asked (no keyring, already encrypted, ...)."""


# --- keys --------------------------------------------------------------------------------


def _account(path: Path | str) -> str:
    """The keyring entry of one database: a file's absolute path, a server's URL without its password."""
    if is_postgres_url(path):
        return display_target(path)
    return str(Path(path).expanduser().resolve())


def _keyring():  # noqa: ANN202 - the keyring module, or None when it is not installed
    try:
        import keyring
        import keyring.errors
    except ImportError:
        return None
    return keyring


def keyring_key(path: Path | str) -> str | None:
    """The key kept in the system keyring for the database at ``path``; None when there is
    none, or no keyring at all (a machine without a desktop session)."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, _account(path))
    except keyring.errors.KeyringError:
        return None


# keyring rates its backends: below 1 are its 'fail' one and those that keep secrets in a plain
# file (keyrings.alt), where a database key would sit beside the database it protects.
SECURE_KEYRING_PRIORITY = 1


def _keep_in_keyring(path: Path, key: str) -> None:
    keyring = _keyring()
    try:
        if keyring is None:
            raise RuntimeError("the keyring package is not installed")
        backend = keyring.get_keyring()
        if getattr(backend, "priority", 0) < SECURE_KEYRING_PRIORITY:
            raise RuntimeError(f"only {type(backend).__module__}, which is not a secure system keyring")
        keyring.set_password(KEYRING_SERVICE, _account(path), key)
    except (RuntimeError, OSError) as exc:  # keyring's errors are RuntimeErrors
        why = str(exc).split(". ")[0]  # keyring's own text goes on with installation advice
        raise PrivacyError(f"{path}: there is no system keyring to keep a key in here ({why}); set "
                           f"{DB_KEY_ENV} to a passphrase (or x'<64 hex digits>') and run again") from None


def _forget_keyring_key(path: Path) -> None:
    keyring = _keyring()
    if keyring is not None:
        with contextlib.suppress(RuntimeError, OSError):
            keyring.delete_password(KEYRING_SERVICE, _account(path))


# --- opening -----------------------------------------------------------------------------


def key_for(target: str | Path, config: AppConfig) -> str | None:
    """The key to open ``target`` with: ``config.db_key`` (FACEAPP_DB_KEY), else the keyring's
    entry for that file or server, else None (a plain gallery)."""
    if config.db_key:
        return config.db_key
    return keyring_key(str(target) if is_postgres_url(target) else Path(str(target)).expanduser())


def open_database(config: AppConfig, create: bool = False) -> Database:
    """The configured database, decrypted with ``config.db_key`` or else the keyring's key,
    with events past the retention period erased (once a day while it stays open)."""
    try:
        db = Database.open(config.db, create=create, key=config.db_key, station=config.station)
    except DatabaseKeyError:
        key = None if config.db_key else keyring_key(config.db if is_postgres_url(config.db) else config.db_path)
        if key is None:
            raise
        db = Database.open(config.db, create=create, key=key, station=config.station)
    db.retention_days = config.retention_days
    if config.retention_days:
        try:
            purge_if_due(db)
        except StoreError as exc:  # a read-only or busy file: still usable, the purge comes later
            log.warning("the retention purge could not run: %s", exc)
    purge_old_unknowns(db, config.unknowns_retention_days)
    return db


def purge_old_unknowns(db: Database, days: int) -> int:
    """Erase remembered unknown faces seen more than ``days`` days ago, where there are any
    (so a gallery without them is never written to at open); returns how many sightings went."""
    from .unknowns import purge_unknowns

    try:
        if not days or not db.store.unknown_groups():
            return 0
        return purge_unknowns(db, days)
    except NotPermittedError as exc:  # a station's role, by design: the administrator's opens purge
        log.debug("the unknown faces' retention purge is not this role's to run: %s", exc)
        return 0
    except StoreError as exc:  # a read-only file: still usable, the purge comes later
        log.warning("the unknown faces' retention purge could not run: %s", exc)
        return 0


def encryption_state(config: AppConfig) -> str:
    """'encrypted', 'not encrypted', 'no database yet' or 'server' (PostgreSQL), by the file's
    first bytes: no key needed."""
    if is_postgres_url(config.db):
        return "server"
    path = config.db_path
    if not path.is_file() or path.stat().st_size == 0:
        return "no database yet"
    return "encrypted" if looks_encrypted(path) else "not encrypted"


@dataclass(frozen=True)
class Conversion:
    path: Path
    rows: dict[str, int]  # rows per table, all carried over
    key_in: str  # where the key is: "keyring" or the environment variable's name


def _sqlite_file(config: AppConfig) -> Path:
    if is_postgres_url(config.db):
        raise PrivacyError("db encrypt and db decrypt convert a SQLite file; a PostgreSQL server encrypts "
                           "its storage itself")
    path = config.db_path
    if not path.is_file():
        raise PrivacyError(f"{path}: no such database")
    return path


def encrypt_database(config: AppConfig) -> Conversion:
    """Encrypt the configured SQLite file in place, with ``config.db_key`` or else a new
    random key kept in the system keyring (before the file changes, so it is never lost)."""
    path = _sqlite_file(config)
    if looks_encrypted(path):
        raise PrivacyError(f"{path}: the database is encrypted already")
    Database.open(path).close()  # a healthy faceapp file at the current schema, or its error
    key, key_in = (config.db_key, DB_KEY_ENV) if config.db_key else (new_raw_key(), "keyring")
    if key_in == "keyring":
        _keep_in_keyring(path, key)
    try:
        rows = convert(path, key_from=None, key_to=key)
    except BaseException:
        if key_in == "keyring":
            _forget_keyring_key(path)
        raise
    return Conversion(path, rows, key_in)


def decrypt_database(config: AppConfig) -> Conversion:
    """Write the configured encrypted file back as plain SQLite, and forget its keyring key."""
    path = _sqlite_file(config)
    if not looks_encrypted(path):
        raise PrivacyError(f"{path}: the database is not encrypted")
    key, key_in = (config.db_key, DB_KEY_ENV) if config.db_key else (keyring_key(path), "keyring")
    if key is None:
        raise needs_key(path)
    Database.open(path, key=key).close()  # the right key, a healthy file, the current schema
    rows = convert(path, key_from=key, key_to=None)
    _forget_keyring_key(path)
    return Conversion(path, rows, key_in)


# --- retention ---------------------------------------------------------------------------


def purge_older_than(db: Database, age: timedelta, now: datetime | None = None) -> int:
    """Erase the events logged more than ``age`` before ``now``; returns how many went."""
    if age < timedelta(0):
        raise PrivacyError("the age of the events to purge must not be negative")
    now = now or datetime.now(timezone.utc)
    return db.store.purge_events(now - age)


def purge_if_due(db: Database, now: datetime | None = None) -> int:
    """The retention period's purge, at most once a day: at open, then on a later event or
    the window's timer. Returns how many events went (0 when not due, or no period is set)."""
    if not db.retention_days:
        return 0
    now = now or datetime.now(timezone.utc)
    if db.last_purge is not None and timedelta(0) <= now - db.last_purge < PURGE_EVERY:
        return 0
    try:
        gone = purge_older_than(db, timedelta(days=db.retention_days), now)
    except NotPermittedError as exc:  # a station's role, by design: the administrator's opens purge
        log.debug("the retention purge is not this role's to run: %s", exc)
        gone = 0
    db.last_purge = now
    return gone


_PERIOD = re.compile(r"^\s*(\d+)\s*([dhw])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_period(text: str) -> timedelta:
    """'30d', '12h' or '2w' as a timedelta; PrivacyError for anything else."""
    match = _PERIOD.match(text or "")
    if not match:
        raise PrivacyError(f"{text!r}: give a period such as 30d (days), 12h (hours) or 2w (weeks)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]
