"""The PostgreSQL backend on a real server: its schema, foreign and newer databases, two
stations enrolling one name at once, a connection cut mid-enrollment, a server restart, and
the two roles of ``faceapp db init``. What every backend does is in test_store_contract.py.

Each test gets a fresh database on the session's throwaway cluster (postgres_cluster.py);
"another station" is a second store or a plain psycopg connection, never a mock.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from collections.abc import Iterator

import pytest

psycopg = pytest.importorskip("psycopg")

from faceapp.errors import GalleryOfflineError, StoreError, UnknownPersonError  # noqa: E402
from faceapp.storage import create_roles, open_store  # noqa: E402
from faceapp.storage.postgres_schema import SCHEMA_VERSION  # noqa: E402

from .conftest import MODEL, encodings  # noqa: E402
from .postgres_cluster import PostgresCluster, drop_database, fresh_database, shared_cluster  # noqa: E402


@pytest.fixture
def cluster() -> PostgresCluster:
    return shared_cluster()


@pytest.fixture
def url(cluster: PostgresCluster) -> Iterator[str]:
    made = fresh_database(cluster)
    yield made
    drop_database(cluster, made)


@pytest.fixture
def empty_url(cluster: PostgresCluster) -> Iterator[str]:
    """A database with no gallery in it at all."""
    made = fresh_database(cluster, empty=True)
    yield made
    drop_database(cluster, made)


def raw(url: str) -> psycopg.Connection:
    """Another program's connection (autocommit), with faceapp's schema on its path."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET search_path TO faceapp")
    return conn


def people_and_templates(url: str) -> tuple[list[tuple], int]:
    with raw(url) as conn:
        return (conn.execute("SELECT name, name_key FROM people ORDER BY id").fetchall(),
                conn.execute("SELECT COUNT(*) FROM templates").fetchone()[0])


# -- the schema --------------------------------------------------------------------------


def test_a_new_gallery_lives_in_its_own_schema_with_float32_bytea_encodings(empty_url: str) -> None:
    enc = encodings(2)
    with open_store(empty_url) as store:
        assert store.schema_versions == (0, SCHEMA_VERSION)
        store.enroll("Alice", enc, MODEL, crops=[b"crop", None])
    with raw(empty_url) as conn:
        tables = conn.execute("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN"
                              " ('pg_catalog', 'information_schema') ORDER BY tablename").fetchall()
        assert tables == [("faceapp", t) for t in ("events", "meta", "people", "templates", "unknown_groups",
                                                              "unknown_sightings")]
        rows = conn.execute("SELECT pg_typeof(encoding)::text, encoding, crop FROM templates ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["bytea", "bytea"]
    assert b"".join(r[1] for r in rows) == enc.astype("<f4").tobytes() and [r[2] for r in rows] == [b"crop", None]


def test_an_empty_database_without_create_is_refused_and_left_empty(empty_url: str) -> None:
    with pytest.raises(StoreError, match=r"holds no faceapp gallery yet; run 'faceapp db init'"):
        open_store(empty_url, create=False)
    with raw(empty_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'faceapp'").fetchone()[0] == 0


def test_another_programs_faceapp_schema_is_refused_untouched(empty_url: str) -> None:
    with raw(empty_url) as conn:
        conn.execute("CREATE SCHEMA faceapp")
        conn.execute("CREATE TABLE faceapp.invoices (id int)")
    with pytest.raises(StoreError, match=r"holds tables that are not faceapp's \(invoices\)"):
        open_store(empty_url)
    with raw(empty_url) as conn:
        assert conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'faceapp'").fetchall() == [("invoices",)]


def test_another_programs_table_called_meta_is_refused_as_another_programs(empty_url: str) -> None:
    with raw(empty_url) as conn:
        conn.execute("CREATE SCHEMA faceapp")
        conn.execute("CREATE TABLE faceapp.meta (id int, note text)")
    with pytest.raises(StoreError, match="the schema 'faceapp' belongs to another program"):
        open_store(empty_url)


def test_a_gallery_from_a_newer_faceapp_is_refused(url: str) -> None:
    with raw(url) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer faceapp"):
        open_store(url)


def test_a_bad_url_never_shows_its_password(cluster: PostgresCluster) -> None:
    for bad in ("postgresql://ann:s3cret@/x?bogus=1", "postgresql://ann:s3cret@/nosuchdb?host=" + str(cluster.socket_dir)):
        with pytest.raises(StoreError) as err:
            open_store(bad)
        assert "s3cret" not in str(err.value) and "ann@" in str(err.value)


def test_a_gallery_of_many_templates_loads_bit_exact_and_in_person_order(url: str) -> None:
    with open_store(url) as store:
        expected = {}
        for i in range(40):
            expected[store.enroll(f"person {i}", encodings(25, seed=i), MODEL)] = encodings(25, seed=i)
        gallery = store.gallery(MODEL)
    assert len(gallery) == 1000 and gallery.person_ids.tolist() == sorted(gallery.person_ids.tolist())
    for person_id, enc in expected.items():
        assert gallery.for_person(person_id).tobytes() == enc.tobytes()


# -- several stations at once ------------------------------------------------------------


def test_a_name_another_station_is_enrolling_this_moment_becomes_one_person(url: str) -> None:
    """Station B enrolls 'Alice' while station A's enrollment of 'Alice' is still open: B waits
    for A to commit and adds to that person (ON CONFLICT on the unique name key), instead of
    failing or making a second Alice."""
    other = raw(url)
    other.execute("BEGIN")
    other.execute("INSERT INTO people (name, name_key, created_at) VALUES ('Alice', 'alice', now())")
    results: list[object] = []
    with open_store(url, station="B") as b:
        worker = threading.Thread(target=lambda: results.append(_try(lambda: b.enroll("ALICE", encodings(2), MODEL))))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive(), "B must wait for A's enrollment to commit"
        other.execute("COMMIT")
        worker.join(10)
        assert isinstance(results[0], int), results
        assert [(p.name, p.templates) for p in b.people()] == [("Alice", 2)]
        assert b.events()[0]["decision"] == "added, 2 templates"
        # And with new_person, B is told so rather than adding to someone else.
        with pytest.raises(StoreError, match="'Alice' is already enrolled"):
            b.enroll("alice", encodings(1, seed=3), MODEL, new_person=True)
    other.close()


def _try(call):  # noqa: ANN001, ANN202
    try:
        return call()
    except Exception as exc:  # the thread's outcome, failure included, is what the test checks
        return exc


def test_stations_enrolling_the_same_new_names_at_once_make_one_person_each(url: str) -> None:
    stations = [open_store(url, station=f"door {i}") for i in range(4)]
    start = threading.Barrier(len(stations))
    outcomes: list[object] = []

    def enroll_all(store) -> None:  # noqa: ANN001
        start.wait()
        for k in range(10):
            outcomes.append(_try(lambda: store.enroll(f"Visitor {k}", encodings(1, seed=k), MODEL)))

    threads = [threading.Thread(target=enroll_all, args=(s,)) for s in stations]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert [o for o in outcomes if not isinstance(o, int)] == []
        people = stations[0].people()
        assert len(people) == 10 and all(p.templates == 4 for p in people)
        assert {e["station"] for e in stations[0].events(limit=100)} == {f"door {i}" for i in range(4)}
    finally:
        for s in stations:
            s.close()


def test_a_connection_cut_during_an_enrollment_leaves_no_partial_person(url: str) -> None:
    """The enrollment has written the person and templates and waits to log its event when the
    server drops its connection: nothing of it stays, and the store connects again next time."""
    with open_store(url, station="door") as store:
        store.enroll("Bob", encodings(1, seed=1), MODEL)
        blocker = raw(url)
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")  # the enrollment's event insert waits here
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(_try(lambda: store.enroll("Alice", encodings(3), MODEL))))
        worker.start()
        try:
            waiting = None
            with raw(url) as look:  # outside any transaction: pg_stat_activity is read once per transaction
                for _ in range(200):
                    waiting = look.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                           (blocker.info.backend_pid,)).fetchone()
                    if waiting:
                        break
                    time.sleep(0.05)
            assert waiting, "the enrollment never reached its event"
            with raw(url) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            worker.join(10)  # before the store closes: never pull a connection from under a thread
        assert isinstance(outcome[0], StoreError) and "lost the connection" in str(outcome[0])
        assert people_and_templates(url) == ([("Bob", "bob")], 1)
        store.enroll("Alice", encodings(3), MODEL)  # connected again
        assert [p.name for p in store.people()] == ["Alice", "Bob"]


def test_a_store_connects_again_after_the_server_restarts(url: str, cluster: PostgresCluster) -> None:
    with open_store(url) as store, open_store(url) as idle:
        store.enroll("Alice", encodings(1), MODEL)
        assert idle.people()  # connected, then idle through the restart
        cluster.stop()
        try:
            with pytest.raises(GalleryOfflineError, match="offline"):
                store.people()
            with pytest.raises(GalleryOfflineError, match="still unreachable"):
                store.people()  # no new attempt for a moment: a live loop is never held up
        finally:
            cluster.start()
        # The idle store finds its connection dead only when it begins, and opens a new one.
        assert [p.name for p in idle.people()] == ["Alice"]
        deadline = time.monotonic() + 10
        while True:
            try:
                assert [p.name for p in store.people()] == ["Alice"]
                break
            except GalleryOfflineError:
                assert time.monotonic() < deadline, "the store never connected again"
                time.sleep(0.2)


# -- the two roles -----------------------------------------------------------------------


@pytest.fixture
def roles(url: str) -> tuple[str, str]:
    """An administrator and a station role for this test's gallery (made by db init's code)."""
    suffix = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin, station = f"admin_{suffix}", f"station_{suffix}"
    assert create_roles(url, admin, station) == [admin, station]
    return admin, station


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}@")


def test_a_station_reads_templates_and_writes_events_and_may_change_nothing(url: str, roles: tuple[str, str]) -> None:
    admin_role, station_role = roles
    with open_store(as_role(url, admin_role), station="office") as admin:
        alice = admin.enroll("Alice", encodings(2), MODEL, crops=[b"crop", None], thumbnail=b"thumb")
        template = admin.templates("Alice")[0].id
        assert admin.template_crop("Alice", template) == b"crop" and admin.thumbnail("Alice") == b"thumb"
    with open_store(as_role(url, station_role), station="door") as station:
        assert len(station.gallery(MODEL)) == 2 and station.people()[0].has_thumbnail
        assert [t.has_crop for t in station.templates("Alice")] == [True, False]
        station.log_event("identify", person_id=alice, decision="recognised", distance=0.3)
        assert station.events()[0]["station"] == "door"
        refusals = [
            ("enroll", lambda: station.enroll("Mallory", encodings(1, seed=9), MODEL)),
            ("rename people", lambda: station.rename("Alice", "Eve")),
            ("delete people", lambda: station.delete("Alice")),
            ("delete templates", lambda: station.delete_template("Alice", template)),
            ("read face crops", lambda: station.template_crop("Alice", template)),
            ("read face crops", lambda: station.thumbnail("Alice")),
            ("read face crops", lambda: station.stale_crops("another-model")),
            ("delete events", lambda: station.purge_events(datetime(9999, 1, 1))),
        ]
        for action, attempt in refusals:
            with pytest.raises(StoreError, match=f"role '{station_role}' may not {action} .*station's role") as err:
                attempt()
            assert "\n" not in str(err.value)
        assert [(p.name, p.templates) for p in station.people()] == [("Alice", 2)]  # nothing changed
    with pytest.raises(UnknownPersonError):
        with open_store(as_role(url, admin_role)) as admin:
            admin.delete("Alice")
            admin.person("Alice")


def test_roles_get_scram_passwords_and_init_again_keeps_them(url: str, roles: tuple[str, str]) -> None:
    admin_role, station_role = roles
    assert create_roles(url, admin_role, station_role, {station_role: "door-secret"}) == []
    with raw(url) as conn:
        stored = dict(conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                                   ([admin_role, station_role],)).fetchall())
    assert stored[admin_role] is None
    assert stored[station_role].startswith("SCRAM-SHA-256$") and "door-secret" not in stored[station_role]
    assert create_roles(url, admin_role, station_role) == []  # again, no passwords: kept
    with raw(url) as conn:
        again = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (station_role,)).fetchone()[0]
    assert again == stored[station_role]


def test_only_a_role_that_may_create_roles_can_run_init(url: str, roles: tuple[str, str]) -> None:
    admin_role, station_role = roles
    with pytest.raises(StoreError, match="may not create roles.*database's owner"):
        create_roles(as_role(url, admin_role), "x_admin", "x_station")
    with pytest.raises(StoreError, match="two different roles"):
        create_roles(url, admin_role, admin_role)


def test_a_station_cannot_make_a_gallery_in_an_empty_database(empty_url: str, cluster: PostgresCluster) -> None:
    with raw(cluster.url()) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'lonely_station'").fetchone() is None:
            conn.execute("CREATE ROLE lonely_station LOGIN")
    with pytest.raises(StoreError, match="holds no faceapp gallery yet, and the role 'lonely_station' may not change it"):
        open_store(as_role(empty_url, "lonely_station"))


def test_a_station_remembers_unknowns_and_only_the_administrator_reads_names_or_forgets_them(
        url: str, roles: tuple[str, str]) -> None:
    admin_role, station_role = roles
    rows = encodings(2, seed=5)
    with open_store(as_role(url, station_role), station="door") as station:
        group = station.remember_unknown(MODEL, rows[0], crop=b"face", source="door camera")
        assert station.remember_unknown(MODEL, rows[1], group_id=group) == group
        assert [(g.id, g.sightings) for g in station.unknown_groups()] == [(group, 2)]
        assert station.unknown_encodings(MODEL)[1].shape == (2, rows.shape[1])
        for action, attempt in [("read unknown faces' crops", lambda: station.unknown_faces(group)),
                                ("forget unknown faces", lambda: station.forget_unknown(group)),
                                ("purge unknown faces", lambda: station.purge_unknowns(datetime(9999, 1, 1)))]:
            with pytest.raises(StoreError, match=f"role '{station_role}' may not {action}"):
                attempt()
    with open_store(as_role(url, admin_role)) as admin:
        assert [f.crop for f in admin.unknown_faces(group)] == [b"face", None]
        assert admin.forget_unknown(group) == 2 and admin.unknown_groups() == []


def test_a_connection_gives_up_on_a_cut_network_within_seconds_unless_the_url_says_otherwise(url: str) -> None:
    from faceapp.storage.postgres_connection import connect

    with connect(url) as conn:  # libpq's own record of what it was asked for
        params = conn.info.get_parameters()
        assert params["tcp_user_timeout"] == "15000" and params["keepalives_idle"] == "10"
    with connect(f"{url}{'&' if '?' in url else '?'}tcp_user_timeout=60000") as conn:
        assert conn.info.get_parameters()["tcp_user_timeout"] == "60000"
