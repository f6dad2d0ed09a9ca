"""A PostgreSQL URL's password never lands in saved settings: it goes to the system keyring or,
where there is none (CI, a station without a desktop), to libpq's password file, from which a
real login then succeeds. The server asks members of PASSWORD_GROUP for a SCRAM password."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")

from faceapp.app import Database  # noqa: E402
from faceapp.app.server_passwords import _keyring, keep_password, split_password  # noqa: E402
from faceapp.errors import StoreError  # noqa: E402

from .postgres_cluster import PASSWORD_GROUP, PostgresCluster, drop_database, fresh_database, shared_cluster  # noqa: E402


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This machine's situation on CI: no secure keyring, so libpq's password file it is (here
    one under tmp_path, through $PGPASSFILE, never the user's own)."""
    if _keyring() is not None:
        pytest.skip("this machine has a system keyring: the test would leave a password in it")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "pgpass"))
    return tmp_path / "pgpass"


@pytest.fixture
def login(no_keyring: Path) -> Iterator[tuple[str, str]]:
    """(URL with the password of a role that must give it, the password)."""
    cluster: PostgresCluster = shared_cluster()
    url = fresh_database(cluster)
    role = "pw_" + psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'c0rrect:horse@battery' IN ROLE {PASSWORD_GROUP}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"GRANT ALL ON SCHEMA faceapp TO {role}")
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA faceapp TO {role}")
    base = url.replace("postgresql://postgres@", f"postgresql://{role}:c0rrect%3Ahorse%40battery@")
    yield base, "c0rrect:horse@battery"
    drop_database(cluster, url)


def test_the_password_moves_to_libpqs_private_password_file_and_logging_in_works(login: tuple[str, str],
                                                                                 no_keyring: Path) -> None:
    url, password = login
    bare, found = split_password(url)
    assert found == password and "horse" not in bare
    with pytest.raises(StoreError, match="password"):  # the server insists on it
        Database.open(bare)
    kept = keep_password(url)
    assert kept == bare
    assert stat.S_IMODE(os.stat(no_keyring).st_mode) == 0o600
    assert no_keyring.read_text().count("c0rrect\\:horse@battery") == 1
    with Database.open(kept) as db:  # libpq finds the password itself
        assert db.people() == []
    assert keep_password(url) == bare and no_keyring.read_text().count("\n") == 1  # replaced, not repeated


def test_a_url_without_a_password_and_a_file_are_kept_as_they_are(no_keyring: Path, tmp_path: Path) -> None:
    for target in ("postgresql://door@db.example/faces", str(tmp_path / "faceapp.db")):
        assert keep_password(target) == target
    assert not no_keyring.exists()
