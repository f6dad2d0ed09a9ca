"""SqliteStore: the GalleryStore kept in one local SQLite file.

The methods live in one module per responsibility (people, templates, events), each a
class over the shared :class:`~faceapp.storage.sqlite_connection.SqliteConnection`; this
class only puts them together, so that all of them run on one connection and therefore in
the same transactions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sqlite_corrections import SqliteCorrections
from .sqlite_events import SqliteEvents
from .sqlite_people import SqlitePeople
from .sqlite_templates import SqliteTemplates
from .sqlite_transfer import SqliteTransfer
from .sqlite_unknowns import SqliteUnknowns

if TYPE_CHECKING:
    from .protocol import GalleryStore


class SqliteStore(SqlitePeople, SqliteTemplates, SqliteEvents, SqliteCorrections, SqliteTransfer, SqliteUnknowns):
    """An open faceapp SQLite database. Make one with ``SqliteStore.open(path)`` (or
    :func:`faceapp.storage.open_store`); use ``with`` to close it.

    A SqliteStore wraps one sqlite3 connection, so use it from one thread; another thread or
    process opens its own on the same file (WAL lets readers and one writer share it).
    ``db`` (the sqlite-utils Database) is there for tests and tools that inspect the file;
    the application uses only what :class:`~faceapp.storage.protocol.GalleryStore` names.
    """


if TYPE_CHECKING:
    # A type checker proves here that SqliteStore has every member of the protocol with a
    # compatible signature; tests/storage checks the same at run time.
    def _is_a_gallery_store(store: SqliteStore) -> GalleryStore:
        return store
