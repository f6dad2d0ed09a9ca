"""The SQLite backend's file: permissions, headers, foreign and damaged files, migrations
from older schema versions, WAL and locking.

Every test works on a real file under tmp_path; other programs are played by plain sqlite3
connections, never by mocks. What every backend does is in test_store_contract.py.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from faceapp.errors import StoreError
from faceapp.storage import MIGRATIONS, SCHEMA_VERSION, SqliteStore, open_store
from faceapp.storage.sqlite_schema import APPLICATION_ID

from .conftest import DIM, MODEL, encodings, sqlite_snapshot as snapshot


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "faceapp.db"


# -- a new file --------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_new_database_is_private_and_in_wal_mode(db_path: Path) -> None:
    old_umask = os.umask(0o022)  # a typical permissive umask must not leak the file
    try:
        with SqliteStore.open(db_path) as s:
            assert s.path == db_path
            s.enroll("Alice", encodings(1), MODEL)
            assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
            wal = db_path.with_name(db_path.name + "-wal")
            assert wal.exists() and stat.S_IMODE(os.stat(wal).st_mode) == 0o600
            assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        os.umask(old_umask)
    assert db_path.parent.is_dir()


def test_a_new_database_is_marked_as_faceapps_at_the_current_schema(db_path: Path) -> None:
    with open_store(db_path) as s:
        assert isinstance(s, SqliteStore)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_create_false_refuses_a_missing_file_and_creates_nothing(db_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        SqliteStore.open(db_path, create=False)
    assert not db_path.exists()


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder, not a database file"):
        SqliteStore.open(tmp_path)


def test_a_file_where_a_folder_of_the_path_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_bytes(b"")
    with pytest.raises(StoreError, match=r"x\.db: is a file, so it cannot hold sub\.db"):
        SqliteStore.open(tmp_path / "x.db" / "deeper" / "sub.db")


def test_encodings_are_stored_as_float32_blobs_never_pickles(db_path: Path) -> None:
    enc = encodings(3)
    with SqliteStore.open(db_path) as store:
        store.enroll("Alice", enc, MODEL, sources=["a.jpg", "b.jpg", None], qualities=[0.9, 0.8, 0.7])
        rows = store.db.execute("SELECT source, quality, typeof(encoding) FROM templates ORDER BY id").fetchall()
        assert rows == [("a.jpg", 0.9, "blob"), ("b.jpg", pytest.approx(0.8), "blob"), (None, pytest.approx(0.7), "blob")]
        blobs = [r[0] for r in store.db.execute("SELECT encoding FROM templates ORDER BY id")]
    assert b"".join(blobs) == enc.astype("<f4").tobytes()


def test_memory_database_works_for_quick_use() -> None:
    with SqliteStore.open(":memory:") as s:
        s.enroll("Alice", encodings(1), MODEL)
        assert len(s.gallery(MODEL)) == 1


# -- migrations --------------------------------------------------------------------------


def test_a_version_0_database_without_tables_is_upgraded(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE scratch (x)")
    conn.execute("DROP TABLE scratch")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with SqliteStore.open(db_path, create=False) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"people", "templates", "events"} <= set(s.db.table_names())
        s.enroll("Alice", encodings(1), MODEL)
    with SqliteStore.open(db_path) as s:  # reopening an up-to-date database changes nothing
        assert s.person("Alice").templates == 1


def test_a_version_1_database_is_upgraded_and_its_templates_kept_without_a_crop(db_path: Path) -> None:
    import sqlite_utils

    db_path.parent.mkdir(parents=True)
    db = sqlite_utils.Database(db_path)
    MIGRATIONS[0](db)  # the schema as the first release made it
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO people (id, name, name_key) VALUES (1, 'Alice', 'alice')")
    db.execute("INSERT INTO templates (person_id, model_id, dim, encoding) VALUES (1, 'old-model', ?, ?)",
               (DIM, encodings(1)[0].tobytes()))
    db.conn.commit()
    db.conn.close()
    with SqliteStore.open(db_path, create=False) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert s.person("Alice").templates == 1
        assert s.stale_without_crop(MODEL) == 1 and s.stale_crops(MODEL) == []
        np.testing.assert_array_equal(s.templates_of("Alice", "old-model"), encodings(1))


def test_a_database_from_a_newer_faceapp_is_refused_untouched(db_path: Path) -> None:
    with SqliteStore.open(db_path) as s:
        s.enroll("Alice", encodings(1), MODEL)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="newer faceapp") as err:
        SqliteStore.open(db_path)
    assert str(db_path) in str(err.value)
    assert db_path.read_bytes() == before


# -- foreign, damaged and locked files ---------------------------------------------------


@pytest.mark.parametrize("its_version", [0, 1, 3, 99])  # many programs number their schema in user_version
def test_another_programs_database_is_refused_untouched(tmp_path: Path, its_version: int) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.execute(f"PRAGMA user_version = {its_version}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not faceapp's"):
        SqliteStore.open(path)
    assert path.read_bytes() == before


def test_a_file_marked_by_another_programs_application_id_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY)")  # even with tables named like ours
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"belongs to another program \(application_id 0x4d2\)") as err:
        SqliteStore.open(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == before


def test_a_garbage_file_is_refused_with_its_path_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    garbage = b"\xff\xd8\xff\xe0 this is not a database " * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a faceapp database") as err:
        SqliteStore.open(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == garbage


@pytest.mark.parametrize("keep", [0.5, 0.9, 60], ids=["half", "most", "60-bytes"])
def test_a_truncated_database_is_reported_damaged_and_not_overwritten(db_path: Path, keep: float) -> None:
    with SqliteStore.open(db_path) as s:
        for i in range(30):
            s.enroll(f"person {i}", encodings(4, seed=i), MODEL, thumbnail=bytes(2000))
    data = db_path.read_bytes()
    assert len(data) > 40_000
    cut = data[: int(len(data) * keep) if keep < 1 else int(keep)]
    db_path.write_bytes(cut)
    with pytest.raises(StoreError, match="damaged") as err:
        SqliteStore.open(db_path)
    assert str(db_path) in str(err.value) and "--db" in str(err.value)
    assert db_path.read_bytes() == cut


def test_a_damaged_page_that_opening_does_not_read_is_still_detected(db_path: Path) -> None:
    with SqliteStore.open(db_path) as s:
        for i in range(30):
            s.enroll(f"person {i}", encodings(4, seed=i), MODEL)
        page_size = s.db.execute("PRAGMA page_size").fetchone()[0]
        root = s.db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'templates'").fetchone()[0]
    data = bytearray(db_path.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = b"\xff" * page_size  # the templates table's root page
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged.*Restore a backup") as err:
        SqliteStore.open(db_path)
    assert str(db_path) in str(err.value)
    assert db_path.read_bytes() == bytes(data)


def test_a_write_while_another_program_holds_the_lock_fails_cleanly(db_path: Path) -> None:
    with SqliteStore.open(db_path) as s:
        s.enroll("Alice", encodings(1), MODEL)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with SqliteStore.open(db_path, busy_timeout_ms=50) as s:
            assert s.has_person("Alice")  # WAL: reading still works
            before = snapshot(db_path)
            with pytest.raises(StoreError, match="locked.*another faceapp may be using it"):
                s.enroll("Bob", encodings(1, seed=1), MODEL)
            with pytest.raises(StoreError, match="locked"):
                s.log_event("identify", decision="unknown")
            assert snapshot(db_path) == before
            other.execute("ROLLBACK")
            s.enroll("Bob", encodings(1, seed=1), MODEL)  # works once the lock is gone
            assert s.has_person("Bob")
    finally:
        other.close()


def test_opening_a_database_locked_exclusively_fails_cleanly(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # rollback-journal mode: nobody else may even read
    try:
        with pytest.raises(StoreError, match="locked") as err:
            SqliteStore.open(db_path, busy_timeout_ms=50)
        assert str(db_path) in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with SqliteStore.open(db_path) as s:
        assert s.people() == []
