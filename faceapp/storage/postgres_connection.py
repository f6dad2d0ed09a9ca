"""Opening a PostgreSQL gallery (psycopg 3), and the transaction and error rules every part of
the PostgreSQL store shares.

The server is named by a libpq URL (``postgresql://user@host/dbname``). Messages name it
without its password. Every psycopg error becomes a StoreError saying what happened in words a
user can act on: an unreachable server, a role that may not do this (a station's), a lost
connection. A connection found broken (the server restarted, the network came back) is
opened again before the next call, so a station keeps working after an outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from ..errors import GalleryOfflineError, NotPermittedError, StoreError
from .common import log
from .crypto import BlobAuthenticationError, BlobCipher
from .postgres_crypto import crop_context, open_cipher, thumbnail_context
from .postgres_schema import SCHEMA, SCHEMA_VERSION, prepare

# How long to wait for an unreachable server before saying so (libpq waits forever by
# default); a URL's own connect_timeout wins.
CONNECT_TIMEOUT_S = 5
# A cut network (a pulled cable, a Wi-Fi that went) otherwise leaves a write waiting for the
# kernel's TCP retries, many minutes: data unacknowledged for this long, or an idle connection
# whose probes go unanswered, fails instead, and the station goes offline and keeps its events.
# (A server whose machine is up but whose process is frozen still acknowledges TCP: a write it
# never answers still waits.)
TCP_DEFAULTS = {"tcp_user_timeout": 15_000, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                "keepalives_count": 3}
# After a failed reconnect, calls fail at once (offline) for this long before trying again, so
# a live loop is never held up by a server that does not answer.
RECONNECT_AFTER_S = 2.0
_Connection = TypeVar("_Connection", bound="PostgresConnection")


def normal_url(url: str) -> str:
    """``url`` with the scheme libpq reads ('postgresql://' in lower case; users type it any way)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.lower() in ("postgresql", "postgres") else url


def display_url(url: str) -> str:
    """The URL as messages show it: user, host, port and database, never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # libpq cannot read it: show what urllib can, less any password
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        host = parts.hostname or ""
        return f"postgresql://{user}{host}{parts.path}"
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "")
    port = f":{params['port']}" if params.get("port") else ""
    dbname = params.get("dbname", "")
    if host.startswith("/"):  # a Unix socket folder is no host name
        return f"postgresql://{user}/{dbname}?host={host}{port.replace(':', '&port=')}"
    return f"postgresql://{user}{host}{port}/{dbname}"


def one_line(exc: BaseException) -> str:
    """The server's or libpq's message as one line (libpq adds indented hints on new lines)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return " ".join(str(primary or exc).split()) or type(exc).__name__


def translate(exc: psycopg.Error, where: str, role: str, action: str) -> StoreError:
    """A StoreError a user can act on, for any psycopg error met while doing ``action``."""
    text = one_line(exc)
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return NotPermittedError(
            f"{where}: the database role {role!r} may not {action} ({text}); a station's role only reads templates "
            "and writes events: enroll, rename and delete with the administrator's role (after 'db migrate', "
            "run 'faceapp db init' again as the database's owner so the roles reach the new tables)"
        )
    if isinstance(exc, (pg_errors.DiskFull, pg_errors.OutOfMemory)):
        return StoreError(f"{where}: the server is out of space ({text}); ask its administrator")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return StoreError(f"{where}: the server is read-only ({text}); point --db at the primary server")
    if isinstance(exc, psycopg.OperationalError):  # AdminShutdown and a cut connection among them
        return GalleryOfflineError(
            f"{where}: lost the connection to the server while trying to {action} ({text}); "
            "nothing of it was saved. Check that the server is running and reachable, and try again")
    return StoreError(f"{where}: database error: {text}")


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection (transactions are explicit) with faceapp's schema on its path."""
    params = conninfo_to_dict(url)
    extra: dict[str, object] = {}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in params:
        extra["application_name"] = "faceapp"
    extra.update({key: value for key, value in TCP_DEFAULTS.items() if key not in params})  # the URL's own win
    conn = psycopg.connect(url, autocommit=True, **extra)
    try:
        conn.execute(f"SET search_path TO {SCHEMA}")
        conn.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn


def iso(value: datetime | None) -> str:
    """A timestamp as the SQLite store writes it: ISO-8601 UTC with milliseconds ('' for none)."""
    if value is None:
        return ""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


class PostgresConnection:
    """One psycopg connection to a faceapp database: opening, reconnecting, closing,
    transactions and error translation. The parts of the PostgreSQL store (people,
    templates, events) build on it. Use it from one thread; another opens its own."""

    def __init__(self, url: str, conn: psycopg.Connection, station: str | None) -> None:
        self.url = url
        self.path = display_url(url)
        self.station = station
        self._conn: psycopg.Connection | None = conn
        self._failed_at: float | None = None  # when reconnecting last failed (monotonic)
        self.role = str(conn.info.user)
        self.schema_versions = (0, 0)  # (found when opened, now): see GalleryStore
        # Seals face data before it is sent (see postgres_crypto); None for a plain gallery.
        self.cipher: BlobCipher | None = None

    @classmethod
    def open(cls: type[_Connection], url: str, *, create: bool = True, station: str | None = None,
             key: str | None = None) -> _Connection:
        """Connect, check that the database holds a faceapp gallery this faceapp can use
        (with ``create``, make one in an empty database) and bring its schema up to date.
        ``key`` seals and opens the gallery's face data (see :mod:`.postgres_crypto`).

        An unreachable server, a missing database or a refused login is one StoreError
        naming the server; a database another program uses is refused untouched.
        """
        url = normal_url(url)
        where = display_url(url)
        try:
            conn = connect(url)
        except psycopg.ProgrammingError as exc:  # libpq quotes the URL, password and all
            raise StoreError(f"{where}: not a usable PostgreSQL URL ({one_line(exc).replace(url, 'the URL')})") from None
        except psycopg.Error as exc:
            raise StoreError(f"{where}: cannot connect to the PostgreSQL server ({one_line(exc)}); "
                             "check that it is running and that --db names it and your role") from None
        store = cls(url, conn, station)
        try:
            with store._errors("open the gallery"):
                store.schema_versions = (prepare(conn, where, create), SCHEMA_VERSION)
                store.cipher = open_cipher(conn, where, key)
        except BaseException:
            conn.close()
            raise
        return store

    def retry_now(self) -> None:
        """The next call tries the server at once, even within RECONNECT_AFTER_S of a failure."""
        self._failed_at = None

    def _live(self) -> psycopg.Connection:
        """The connection, opened again first when the server dropped it."""
        if self._conn is None:
            raise StoreError(f"{self.path}: the database was closed; open it again")
        if self._conn.broken or self._conn.closed:
            if self._failed_at is not None and time.monotonic() - self._failed_at < RECONNECT_AFTER_S:
                raise GalleryOfflineError(f"{self.path}: the gallery is offline: the server is still unreachable")
            try:
                fresh = connect(self.url)
            except psycopg.Error as exc:
                self._failed_at = time.monotonic()
                raise GalleryOfflineError(
                    f"{self.path}: the gallery is offline: cannot reach the server ({one_line(exc)})") from None
            self._failed_at = None
            self._conn.close()
            self._conn = fresh
        return self._conn

    @contextmanager
    def _errors(self, action: str = "read the gallery") -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise translate(exc, self.path, self.role, action) from exc

    def _begin(self, stack: ExitStack) -> psycopg.Connection:
        """A connection with a transaction begun (closed by ``stack``). A connection that the
        server dropped while idle (a restart) is only found dead here, before anything was
        done in it, so it is opened again and the transaction begun once more."""
        for attempt in range(2):
            conn = self._live()
            try:
                stack.enter_context(conn.transaction())
                return conn
            except psycopg.OperationalError:
                if attempt or not conn.broken:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _write(self, action: str) -> Iterator[psycopg.Connection]:
        """One read-committed write transaction: all of the block or none of it. A connection
        cut half-way leaves nothing: the server rolls back what it never saw committed."""
        with self._errors(action), ExitStack() as stack:
            yield self._begin(stack)

    @contextmanager
    def _read(self, action: str = "read the gallery") -> Iterator[psycopg.Connection]:
        """A read-only transaction on one snapshot, so several queries agree with each other."""
        with self._errors(action), ExitStack() as stack:
            conn = self._begin(stack)
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def _seal(self, data: bytes | bytearray | memoryview | None, context: str) -> bytes | None:
        """``data`` as it is sent: sealed to ``context`` in an encrypted gallery, as it is otherwise."""
        if data is None:
            return None
        return bytes(data) if self.cipher is None else self.cipher.seal(bytes(data), context)

    def _unseal(self, blob: bytes | None, context: str) -> bytes | None:
        """A stored blob opened (BlobAuthenticationError naming ``context`` when it does not)."""
        if blob is None:
            return None
        return bytes(blob) if self.cipher is None else self.cipher.open(bytes(blob), context, self.path)

    def _unseal_or_none(self, blob: bytes, context: str) -> bytes | None:
        """Like :meth:`_unseal`, but a blob that fails authentication is logged and read as None,
        so one altered template is left out of matching instead of stopping it for everyone."""
        try:
            return self._unseal(blob, context)
        except BlobAuthenticationError as exc:
            log.warning("%s", exc)
            return None

    def _thumbnail_from_best_crop(self, conn: psycopg.Connection, person_id: int) -> None:
        """Make the person's thumbnail their best remaining kept crop (or none), after one of
        their templates went. In an encrypted gallery the crop is opened and sealed again to
        the person, as a blob sealed to one row does not open on another."""
        best = conn.execute("SELECT id, crop FROM templates WHERE person_id = %s AND crop IS NOT NULL"
                            " ORDER BY quality IS NULL, quality DESC, id DESC LIMIT 1", (person_id,)).fetchone()
        crop = None if best is None else self._unseal(best[1], crop_context(best[0]))
        conn.execute("UPDATE people SET thumbnail = %s WHERE id = %s",
                     (self._seal(crop, thumbnail_context(person_id)), person_id))

    def _copy_thumbnail(self, conn: psycopg.Connection, source_id: int, target_id: int) -> None:
        """Give ``target_id`` the thumbnail of ``source_id`` when it has none (a merge)."""
        row = conn.execute("SELECT (SELECT thumbnail FROM people WHERE id = %s), thumbnail IS NULL FROM people"
                           " WHERE id = %s", (source_id, target_id)).fetchone()
        if row is not None and row[0] is not None and row[1]:
            thumbnail = self._unseal(row[0], thumbnail_context(source_id))
            conn.execute("UPDATE people SET thumbnail = %s WHERE id = %s",
                         (self._seal(thumbnail, thumbnail_context(target_id)), target_id))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self: _Connection) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"
