"""The gallery store: enrolled people, their face templates and the event log.

The application talks to a :class:`GalleryStore` (see :mod:`.protocol`) and gets one from
:func:`open_store`, which picks the backend from the target, so adding a backend changes
this function and nothing that uses a store. A local SQLite file (:class:`SqliteStore`) is
the embedded default for one machine; a ``postgresql://`` URL opens a PostgreSQL server
(:class:`PostgresStore`) that several stations share.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import StoreError
from .protocol import GalleryStore, GalleryWatcher
from .records import EVENT_KINDS, TRANSFER_COLUMNS, PersonInfo, QueuedEvent, StoredCrop, StoredSource, TemplateInfo
from .sqlite_connection import DEFAULT_BUSY_TIMEOUT_MS
from .sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from .sqlite_store import SqliteStore

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "EVENT_KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TRANSFER_COLUMNS",
    "GalleryStore",
    "GalleryWatcher",
    "PersonInfo",
    "PostgresStore",
    "QueuedEvent",
    "SqliteStore",
    "StoredCrop",
    "StoredSource",
    "TemplateInfo",
    "check_not_a_url",
    "create_roles",
    "display_target",
    "is_postgres_url",
    "open_store",
    "watch_gallery",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# 'name://...': a URL, never a file name, however the scheme is spelled.
_ANY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_postgres_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a file.

    Only a str can be a URL: ``Path`` would already have folded its '//' into '/'.
    """
    return isinstance(target, str) and target.lower().startswith(_POSTGRES_SCHEMES)


def create_roles(url: str, admin: str, station: str, passwords: dict[str, str] | None = None) -> list[str]:
    """The administrator and station roles of a PostgreSQL gallery (see :mod:`.postgres_roles`)."""
    from .postgres_roles import create_roles as create

    return create(url, admin, station, passwords)


def watch_gallery(target: str | Path) -> GalleryWatcher:
    """A watcher that tells when the gallery at ``target`` changes elsewhere (see GalleryWatcher);
    StoreError when a server cannot be reached."""
    if is_postgres_url(target):
        import psycopg

        from .postgres_connection import display_url, normal_url, one_line
        from .postgres_watch import PostgresWatcher

        try:
            return PostgresWatcher(str(target))
        except psycopg.Error as exc:
            raise StoreError(f"{display_url(normal_url(str(target)))}: cannot connect to the PostgreSQL server "
                             f"({one_line(exc)})") from None
    from .sqlite_watch import SqliteWatcher

    return SqliteWatcher(target)


def check_not_a_url(target: str | Path) -> None:
    """StoreError for a URL that is not a PostgreSQL one ('postgresq://', 'http://'): SQLite
    would otherwise make a file named after it, password and all. The message leaves out
    whatever sits before an '@', where a password would be."""
    if isinstance(target, str) and _ANY_URL.match(target) and not is_postgres_url(target):
        scheme, _, rest = target.partition("://")
        shown = f"{scheme}://{rest.rpartition('@')[2]}"
        raise StoreError(f"{shown}: not a database this app opens: give a SQLite file or a postgresql:// URL")


def display_target(target: str | Path) -> str:
    """A database as messages and windows show it: the file, or the URL without its password."""
    if is_postgres_url(target):
        from .postgres_connection import display_url, normal_url

        return display_url(normal_url(str(target)))
    return str(Path(target).expanduser()) if str(target) != ":memory:" else ":memory:"


def open_store(
    path: str | Path,
    *,
    create: bool = True,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    station: str | None = None,
    key: str | None = None,
) -> GalleryStore:
    """Open the gallery at ``path`` with the backend it calls for.

    ``path`` is a SQLite file (made, private to its owner, when missing and ``create``),
    ':memory:', or a PostgreSQL URL (``postgresql://user@host/dbname``; with ``create`` an
    empty database gets a gallery). ``busy_timeout_ms`` is how long a SQLite write waits for
    another process's lock before StoreError says the database is locked. ``station`` names
    this station in every event the store logs. Every problem a user can meet (damaged,
    foreign, newer or locked database, an unreachable server) is a StoreError naming it.
    ``key`` opens an encrypted SQLite file (see :mod:`.sqlite_crypto`), or seals a PostgreSQL
    gallery's face data on this station (see :mod:`.postgres_crypto`).
    """
    if is_postgres_url(path):
        # Never let a URL reach SQLite, which would create a file called that.
        from .postgres_store import PostgresStore

        return PostgresStore.open(str(path), create=create, station=station, key=key)
    check_not_a_url(path)
    return SqliteStore.open(path, create=create, busy_timeout_ms=busy_timeout_ms, key=key, station=station)


def __getattr__(name: str) -> object:
    """``PostgresStore`` on first use: psycopg is imported only where PostgreSQL is used."""
    if name == "PostgresStore":
        from .postgres_store import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
