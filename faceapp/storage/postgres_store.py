"""PostgresStore: the GalleryStore kept on a PostgreSQL server, shared by several stations.

As with :class:`~faceapp.storage.sqlite_store.SqliteStore`, the methods live in one module per
responsibility (people, templates, events) over one shared connection; this class only puts
them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .postgres_corrections import PostgresCorrections
from .postgres_events import PostgresEvents
from .postgres_people import PostgresPeople
from .postgres_templates import PostgresTemplates
from .postgres_transfer import PostgresTransfer
from .postgres_unknowns import PostgresUnknowns

if TYPE_CHECKING:
    from .protocol import GalleryStore


class PostgresStore(PostgresPeople, PostgresTemplates, PostgresEvents, PostgresCorrections, PostgresTransfer, PostgresUnknowns):
    """An open faceapp gallery on a PostgreSQL server. Make one with ``PostgresStore.open(url)``
    (or :func:`faceapp.storage.open_store`); use ``with`` to close it.

    It wraps one psycopg connection, so use it from one thread; another thread, process or
    station opens its own. ``path`` is the server's URL without its password; every event it
    logs records ``station``.
    """


if TYPE_CHECKING:
    def _is_a_gallery_store(store: PostgresStore) -> GalleryStore:
        return store
