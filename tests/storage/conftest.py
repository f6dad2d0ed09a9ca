"""Fixtures that run the gallery store contract against every backend.

A backend takes part by adding one factory to ``BACKENDS``: a class made from ``tmp_path``
that opens stores on one fresh, empty database and plays "another program" on it with a
connection of its own (snapshots, raw SQL, an injected failure). A backend that needs a
server can call ``pytest.skip`` in its constructor when none is configured.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from faceapp.storage import GalleryStore, open_store

from .postgres_cluster import drop_database, fresh_database, shared_cluster, stop_shared_cluster

DIM = 128
MODEL = "faceapp-encoder-v1"
TABLES = ("people", "templates", "events", "unknown_groups", "unknown_sightings")


def encodings(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sqlite_snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite file, read by an independent connection."""
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in TABLES}
    finally:
        conn.close()


class Backend(Protocol):
    """One fresh database of one backend, and a connection to it that is not the store's."""

    name: str

    def open(self, **options: Any) -> GalleryStore:
        """A store on this database; ``options`` are open_store's keyword arguments."""

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of people, templates and events, in id order, with columns in schema order."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run one statement (portable SQL, '?' placeholders) and commit; returns its rows."""

    def fail_event_inserts(self, message: str) -> None:
        """From now on, inserting into events fails with ``message``, as a full or broken
        database would fail a write half-way through a transaction."""

    def allow_event_inserts(self) -> None:
        """Undo :meth:`fail_event_inserts`."""

    def cleanup(self) -> None:
        """Drop whatever the database left outside tmp_path."""


class SqliteBackend:
    """A SQLite file under tmp_path (in a folder that does not exist yet)."""

    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "data" / "faceapp.db"

    def open(self, **options: Any) -> GalleryStore:
        return open_store(self.path, **options)

    def snapshot(self) -> dict[str, list[tuple]]:
        return sqlite_snapshot(self.path)

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        conn = sqlite3.connect(self.path)
        try:
            rows = conn.execute(sql, tuple(params)).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def fail_event_inserts(self, message: str) -> None:
        self.execute(f"CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, '{message}'); END")

    def allow_event_inserts(self) -> None:
        self.execute("DROP TRIGGER no_events")

    def cleanup(self) -> None:
        pass  # the file goes with tmp_path


class PostgresBackend:
    """A fresh database on the session's throwaway PostgreSQL cluster (see postgres_cluster.py),
    holding an empty gallery; skipped where PostgreSQL is not installed."""

    name = "postgresql"

    def __init__(self, tmp_path: Path) -> None:
        self.cluster = shared_cluster()
        self.url = fresh_database(self.cluster)

    def open(self, **options: Any) -> GalleryStore:
        return open_store(self.url, **options)

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute("SET search_path TO faceapp")
        return conn

    def snapshot(self) -> dict[str, list[tuple]]:
        with self._connect() as conn:
            return {table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in TABLES}

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._connect() as conn:
            cur = conn.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []

    def fail_event_inserts(self, message: str) -> None:
        self.execute("CREATE FUNCTION no_events() RETURNS trigger LANGUAGE plpgsql AS"
                     f" $$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        self.execute("CREATE TRIGGER no_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION no_events()")

    def allow_event_inserts(self) -> None:
        self.execute("DROP TRIGGER no_events ON events")
        self.execute("DROP FUNCTION no_events()")

    def cleanup(self) -> None:
        drop_database(self.cluster, self.url)


# Every backend the contract runs against: add a factory here and the whole of
# test_store_contract.py runs on it too.
BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "postgresql": PostgresBackend,
    "sqlite": SqliteBackend,
}


@pytest.fixture(scope="session", autouse=True)
def _postgres_cluster_stops_at_the_end() -> Iterator[None]:
    """The PostgreSQL cluster starts on first use (if ever) and goes when the session ends."""
    yield
    stop_shared_cluster()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = BACKENDS[request.param](tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def open_test_store(backend: Backend) -> Iterator[Callable[..., GalleryStore]]:
    """Opens stores on the test's database (several may be open at once); each is closed at
    the end of the test, whatever happened."""
    opened: list[GalleryStore] = []

    def open_(**options: Any) -> GalleryStore:
        store = backend.open(**options)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_test_store: Callable[..., GalleryStore]) -> GalleryStore:
    """A store on a fresh, empty database, with a short lock wait so lock tests stay quick."""
    return open_test_store(busy_timeout_ms=200)
