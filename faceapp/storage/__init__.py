"""The gallery store: enrolled people, their face templates and the event log.

The application talks to a :class:`GalleryStore` (see :mod:`.protocol`) and gets one from
:func:`open_store`, which picks the backend from the target, so adding a backend changes
this function and nothing that uses a store. Today the only backend is a local SQLite file
(:class:`SqliteStore`); PostgreSQL URLs are recognised, so they are refused with a clear
message instead of being taken for a file name.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .protocol import GalleryStore
from .records import EVENT_KINDS, PersonInfo, StoredCrop, StoredSource, TemplateInfo
from .sqlite_connection import DEFAULT_BUSY_TIMEOUT_MS
from .sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from .sqlite_store import SqliteStore

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "EVENT_KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "GalleryStore",
    "PersonInfo",
    "SqliteStore",
    "StoredCrop",
    "StoredSource",
    "TemplateInfo",
    "is_postgres_url",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a file.

    Only a str can be a URL: ``Path`` would already have folded its '//' into '/'.
    """
    return isinstance(target, str) and target.lower().startswith(_POSTGRES_SCHEMES)


def open_store(
    path: str | Path,
    *,
    create: bool = True,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> GalleryStore:
    """Open the gallery at ``path`` with the backend it calls for.

    ``path`` is a SQLite file (made, private to its owner, when missing and ``create``) or
    ':memory:'. ``busy_timeout_ms`` is how long a write waits for another process's lock
    before StoreError says the database is locked. Every problem a user can meet (damaged,
    foreign, newer or locked database) is a StoreError naming it.
    """
    if is_postgres_url(path):
        # Not a file name: never let it reach SQLite, which would create a file called that.
        raise StoreError("PostgreSQL is not supported yet")
    return SqliteStore.open(path, create=create, busy_timeout_ms=busy_timeout_ms)
