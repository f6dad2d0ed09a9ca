"""``faceapp db init | copy | migrate``, ``--station`` and ``--db postgresql://...`` from the
command line, on a real PostgreSQL server (the session's throwaway cluster) and real SQLite
files; the enroll and identify runs use the shipped detector and encoder on the in-repo faces.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

psycopg = pytest.importorskip("psycopg")

from faceapp.cli import main  # noqa: E402
from faceapp.storage import MIGRATIONS, SCHEMA_VERSION, open_store  # noqa: E402

from .conftest import MODEL, encodings  # noqa: E402
from .postgres_cluster import PostgresCluster, drop_database, fresh_database, shared_cluster  # noqa: E402

TABLES = ("people", "templates", "events", "unknown_groups", "unknown_sightings")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Defaults that can never reach the user's real database or name this machine."""
    monkeypatch.setenv("FACEAPP_DB", str(tmp_path / "default-never-used.db"))
    for name in ("FACEAPP_STATION", "FACEAPP_ADMIN_PASSWORD", "FACEAPP_STATION_PASSWORD", "FACEAPP_MODEL",
                 "FACEAPP_DETECTOR_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cluster() -> PostgresCluster:
    return shared_cluster()


@pytest.fixture
def empty_url(cluster: PostgresCluster) -> Iterator[str]:
    made = fresh_database(cluster, empty=True)
    yield made
    drop_database(cluster, made)


def run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def everything(target: str | Path) -> dict[str, list[tuple]]:
    with open_store(target, create=False) as store:
        return {t: store.export_rows(t, limit=10_000) for t in TABLES}


def test_db_init_makes_the_gallery_and_the_two_roles(empty_url: str, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    name = psycopg.conninfo.conninfo_to_dict(empty_url)["dbname"]
    admin, station = f"admin_{name}", f"station_{name}"
    monkeypatch.setenv("FACEAPP_STATION_PASSWORD", "door-secret")
    code, out, err = run(capsys, "db", "init", "--db", empty_url, "--admin-role", admin, "--station-role", station)
    assert code == 0 and err == f"faceapp: warning: role '{admin}' has no password, so it cannot log in over the network: " \
        "run db init again with --ask-passwords or FACEAPP_ADMIN_PASSWORD\n"  # the station's was given
    assert f"a faceapp gallery at schema {open_store(empty_url).schema_versions[1]}" in out
    assert f"role '{admin}' (created): administrator" in out and f"role '{station}' (created): station" in out
    assert "door-secret" not in out
    code, out, _ = run(capsys, "db", "init", "--db", empty_url, "--admin-role", admin, "--station-role", station)
    assert code == 0 and f"role '{station}' (kept, privileges set again)" in out
    with psycopg.connect(empty_url) as conn:
        hashed = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (station,)).fetchone()[0]
    assert hashed.startswith("SCRAM-SHA-256$")


def test_db_init_on_a_sqlite_file_makes_it_and_says_there_are_no_roles(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "db", "init", "--db", tmp_path / "new.db")
    assert code == 0 and f"schema {SCHEMA_VERSION}" in out and "has no roles" in out
    assert (tmp_path / "new.db").is_file()


def test_db_copy_moves_a_gallery_sqlite_to_postgresql_and_back_unchanged(
    tmp_path: Path, empty_url: str, capsys: pytest.CaptureFixture
) -> None:
    source = tmp_path / "office.db"
    with open_store(source, station="desk") as store:
        alice = store.enroll("Alice", encodings(2), MODEL, sources=["a.jpg", "b.jpg"], qualities=[0.9, 0.7],
                             crops=[b"crop-a", b"crop-b"], thumbnail=b"thumb")
        store.enroll("Bob", encodings(1, seed=1), MODEL)
        store.log_event("verify", person_id=alice, decision="accepted", distance=0.3, source="cam 0")
        stranger = store.remember_unknown(MODEL, encodings(1, seed=2)[0], crop=b"crop-x", source="cam 0")
    code, out, err = run(capsys, "db", "copy", source, empty_url)
    assert (code, err) == (0, "")
    assert "copied 2 people, 3 templates, 3 events, 1 unknown group, 1 unknown sighting from" in out
    assert "the counts match" in out
    assert everything(empty_url) == everything(source)

    back = tmp_path / "back.db"
    code, out, _ = run(capsys, "db", "copy", empty_url, back)
    assert code == 0 and "copied 2 people, 3 templates, 3 events, 1 unknown group, 1 unknown sighting" in out
    assert everything(back) == everything(source)
    with open_store(back) as store:
        assert store.template_crop("Alice", store.templates("Alice")[0].id) == b"crop-a"
        assert [face.crop for face in store.unknown_faces(stranger)] == [b"crop-x"]
        assert store.events()[0]["station"] == "desk"

    code, _, err = run(capsys, "db", "copy", source, back)  # never into a gallery that holds anything
    assert code == 2 and "copy into a new, empty database" in err
    assert everything(back) == everything(source)
    code, _, err = run(capsys, "db", "copy", tmp_path / "missing.db", tmp_path / "x.db")
    assert code == 2 and "no such database" in err


def test_db_migrate_upgrades_an_old_sqlite_file_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS[0](db)  # the first release's schema: no crops, no stations
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO people (id, name, name_key) VALUES (1, 'Alice', 'alice')")
    db.execute("INSERT INTO events (at, kind, person_id, name) VALUES ('2020-01-01T00:00:00.000+00:00', 'verify', 1, 'Alice')")
    db.conn.commit()
    db.conn.close()
    code, out, _ = run(capsys, "db", "migrate", "--db", path)
    assert code == 0 and f"upgraded the schema from version 1 to {SCHEMA_VERSION}" in out
    code, out, _ = run(capsys, "db", "migrate", "--db", path)
    assert code == 0 and f"the schema is up to date (version {SCHEMA_VERSION})" in out
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name, station FROM events").fetchall() == [("Alice", None)]
    conn.close()


def test_an_unreachable_server_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: nothing answers there
        url = f"postgresql://door:pw123@127.0.0.1:{sock.getsockname()[1]}/faces"
        for args in (("people", "list"), ("db", "migrate")):
            code, out, err = run(capsys, *args, "--db", url)
            assert code == 2 and out == ""
            assert err.startswith("faceapp: error: postgresql://door@127.0.0.1:") and "cannot connect" in err
            assert err.count("\n") == 1 and "pw123" not in err


def test_a_url_python_cannot_parse_is_one_line_without_its_password(capsys: pytest.CaptureFixture) -> None:
    for url in ("postgresql://door:pw123@[::1:5432/faces", "postgresql://door:pw123@host:port/faces"):
        code, out, err = run(capsys, "people", "list", "--db", url)
        assert code == 2 and out == "" and err.count("\n") == 1 and "pw123" not in err
        assert err.startswith("faceapp: error: postgresql://...: not a valid URL"), err


def test_a_mistyped_url_is_refused_and_makes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    # SQLite would take 'postgresq://...' for a file path and make it, password and all.
    monkeypatch.chdir(tmp_path)
    typo = "postgresq://door:pw123@127.0.0.1:5432/faces"
    for args in (("people", "list", "--db", typo), ("db", "init", "--db", typo), ("db", "encrypt", "--db", typo),
                 ("db", "copy", typo, str(tmp_path / "copy.db")), ("db", "copy", str(tmp_path / "none.db"), typo)):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == "" and err.count("\n") == 1, (args, err)
        assert "pw123" not in err and ("not a database this app opens" in err or "no such database" in err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_stations_enroll_and_identify_over_one_server_each_event_names_its_station(
    cluster: PostgresCluster, empty_url: str, repo_faces, shipped_model_card: Path, capsys: pytest.CaptureFixture,
) -> None:
    """The real pipeline on a shared gallery: the desk enrolls, the door recognises, a station's
    role cannot enroll, and the event log says which station did what."""
    name = psycopg.conninfo.conninfo_to_dict(empty_url)["dbname"]
    admin, station = f"admin_{name}", f"station_{name}"
    assert run(capsys, "db", "init", "--db", empty_url, "--admin-role", admin, "--station-role", station)[0] == 0
    as_admin = empty_url.replace("postgres@", f"{admin}@")
    as_station = empty_url.replace("postgres@", f"{station}@")
    model = ("--model", shipped_model_card)

    code, _, err = run(capsys, "enroll", "Person E", *repo_faces.hungry, "--db", as_admin, "--station", "front desk", *model)
    assert code == 0, err
    code, out, err = run(capsys, "identify", repo_faces.want[0], "--json", "--db", as_station, "--station", "door 1", *model)
    assert code == 0, err
    assert '"name": "Person E"' in out
    code, _, err = run(capsys, "enroll", "Mallory", repo_faces.want[0], "--db", as_station, "--station", "door 1", *model)
    last = err.splitlines()[-1]  # after the look-alike warning: Mallory's photo is Person E's
    assert code == 2 and last.startswith("faceapp: error: ") and f"the database role '{station}' may not enroll" in last
    with open_store(empty_url) as store:
        assert [(e["kind"], e["name"], e["station"]) for e in store.events()] == [
            ("identify", "Person E", "door 1"), ("enroll", "Person E", "front desk")]
        assert [p.name for p in store.people()] == ["Person E"]


def test_db_migrate_on_a_server_says_to_grant_again_and_db_init_lets_the_roles_reach_the_new_tables(
        empty_url: str, capsys: pytest.CaptureFixture) -> None:
    name = psycopg.conninfo.conninfo_to_dict(empty_url)["dbname"]
    admin, station = f"admin_{name}", f"station_{name}"
    roles = ("--admin-role", admin, "--station-role", station)
    assert run(capsys, "db", "init", "--db", empty_url, *roles)[0] == 0
    with psycopg.connect(empty_url, autocommit=True) as conn:  # back to schema 1, as an older faceapp made it
        conn.execute("DROP TABLE faceapp.unknown_sightings, faceapp.unknown_groups")
        conn.execute("UPDATE faceapp.meta SET value = '1' WHERE key = 'schema_version'")
    code, out, err = run(capsys, "db", "migrate", "--db", empty_url)
    assert code == 0 and "upgraded the schema from version 1 to 2" in out
    assert "run 'faceapp db init' again as the database's owner" in err
    as_admin = empty_url.replace("postgres@", f"{admin}@")
    code, _, err = run(capsys, "unknowns", "list", "--db", as_admin)
    assert code == 2 and "run 'faceapp db init' again" in err  # not granted yet, and the message says what to do
    assert run(capsys, "db", "init", "--db", empty_url, *roles)[0] == 0
    code, out, err = run(capsys, "unknowns", "list", "--db", as_admin)
    assert (code, out.strip()) == (0, "no unknowns remembered"), err


def test_a_refused_copy_leaves_no_empty_gallery_file(empty_url: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    name = psycopg.conninfo.conninfo_to_dict(empty_url)["dbname"]
    admin, station = f"admin_{name}", f"station_{name}"
    assert run(capsys, "db", "init", "--db", empty_url, "--admin-role", admin, "--station-role", station)[0] == 0
    kept = tmp_path / "kept.db"
    kept.write_bytes(b"")  # there before: never removed, even when the copy into it fails
    for destination in (tmp_path / "copy.db", kept):
        code, _, err = run(capsys, "db", "copy", empty_url.replace("postgres@", f"{station}@"), destination)
        assert code == 2 and "may not" in err  # a station may not read the crops a copy carries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.db"]


def test_a_station_does_not_warn_that_it_may_not_purge(empty_url: str, capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Purging is the administrator's, by design: a station's every command warned it could not.
    name = psycopg.conninfo.conninfo_to_dict(empty_url)["dbname"]
    admin, station = f"admin_{name}", f"station_{name}"
    assert run(capsys, "db", "init", "--db", empty_url, "--admin-role", admin, "--station-role", station)[0] == 0
    as_station = empty_url.replace("postgres@", f"{station}@")
    with open_store(as_station) as store:
        store.remember_unknown(MODEL, encodings(1)[0])
        store.log_event("identify", decision="unknown", distance=1.3)
    monkeypatch.setenv("FACEAPP_RETENTION_DAYS", "30")
    code, out, err = run(capsys, "events", "list", "--db", as_station)
    assert (code, err) == (0, "") and "unknown" in out


def test_db_copy_and_migrate_open_an_encrypted_file_with_the_configured_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "secret.db"
    with open_store(source, key="a long passphrase") as store:  # a new file with a key is encrypted
        store.enroll("Alice", encodings(2), MODEL, crops=[b"crop-a", b"crop-b"])
    assert not source.read_bytes().startswith(b"SQLite format 3")
    plain = tmp_path / "plain.db"
    code, _, err = run(capsys, "db", "copy", source, plain)  # no key given: refused in one line
    assert code == 2 and "secret.db" in err and len(err.strip().splitlines()) == 1 and not plain.exists()

    monkeypatch.setenv("FACEAPP_DB_KEY", "a long passphrase")
    code, _, err = run(capsys, "db", "migrate", "--db", source)
    assert code == 0, err
    code, out, err = run(capsys, "db", "copy", source, plain)
    assert code == 0, err
    assert "copied 1 person, 2 templates" in out
    with open_store(plain, key="a long passphrase") as store:  # the destination is sealed with the same key
        assert store.template_crop("Alice", store.templates("Alice")[0].id) == b"crop-a"
    assert not plain.read_bytes().startswith(b"SQLite format 3")
