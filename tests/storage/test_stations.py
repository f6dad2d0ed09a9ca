"""Several stations on one PostgreSQL gallery, as the issue's "done when" asks, on a real server:
an enrollment at one station recognised at another within 2 seconds (LISTEN/NOTIFY), four
processes enrolling at once while a fifth identifies, a station killed with SIGKILL half-way
through an enrollment, and the server stopped and started again under a running identify loop.
The SQLite watcher (a window and a command on one machine) is checked here too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")

from faceapp.app import Database  # noqa: E402
from faceapp.match import identify  # noqa: E402
from faceapp.storage import open_store, watch_gallery  # noqa: E402

from .conftest import MODEL, encodings  # noqa: E402
from .postgres_cluster import PostgresCluster, drop_database, fresh_database, shared_cluster  # noqa: E402

STATION = Path(__file__).with_name("station_process.py")


@pytest.fixture
def cluster() -> PostgresCluster:
    return shared_cluster()


@pytest.fixture
def url(cluster: PostgresCluster) -> Iterator[str]:
    made = fresh_database(cluster)
    yield made
    drop_database(cluster, made)


def within(seconds: float, condition) -> float:  # noqa: ANN001
    """How long ``condition()`` took to hold, polled as a station's loop would; fails after ``seconds``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - start


def station(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(STATION), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).parents[2])


def finished(process: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


# -- hearing changes -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_watcher_hears_enrollments_renames_deletions_and_re_encodings_but_not_events(
    kind: str, url: str, tmp_path: Path
) -> None:
    target = url if kind == "postgresql" else str(tmp_path / "faceapp.db")
    with open_store(target) as elsewhere:
        watcher = watch_gallery(target)
        try:
            assert not watcher.changed()
            changes = [
                lambda: elsewhere.enroll("Alice", encodings(1), MODEL),
                lambda: elsewhere.rename("Alice", "Alicia"),
                lambda: elsewhere.reencode("new-model", [elsewhere.templates("Alicia")[0].id], encodings(1, seed=2)),
                lambda: elsewhere.delete("Alicia"),
            ]
            for change in changes:
                change()
                within(2, watcher.changed)
                assert not watcher.changed()  # heard once
            elsewhere.log_event("identify", decision="unknown")
            time.sleep(0.3)
            assert not watcher.changed()  # an event is no reason to reload anyone's gallery
        finally:
            watcher.close()


def test_an_enrollment_at_one_station_is_recognised_at_another_within_2_seconds(url: str) -> None:
    with Database.open(url, station="door") as door, Database.open(url, station="desk") as desk:
        shared = door.shared_gallery(MODEL, None)
        try:
            probe = encodings(1, seed=7)[0]
            assert identify(probe, shared.current(), threshold=0.5).name is None
            desk.store.enroll("Alice", encodings(1, seed=7), MODEL)  # the desk enrolls her
            took = within(2, lambda: identify(probe, shared.current(), threshold=0.5).name == "Alice")
            desk.store.rename("Alice", "Alicia")
            within(2, lambda: identify(probe, shared.current(), threshold=0.5).name == "Alicia")
            desk.store.delete("Alicia")
            within(2, lambda: identify(probe, shared.current(), threshold=0.5).name is None)
            assert shared.reloads == 3 and took < 2
        finally:
            shared.close()


# -- several processes at once ---------------------------------------------------------------


@pytest.mark.slow
def test_four_stations_enroll_25_people_each_while_a_fifth_identifies(url: str) -> None:
    watcher = station("identify", url, "6")
    time.sleep(1)  # it holds the gallery and listens before anyone enrolls
    enrollers = [station("enroll", url, f"station {k} person", "25") for k in range(4)]
    assert [finished(p) for p in enrollers] == [{"enrolled": 25}] * 4
    seen = finished(watcher)
    with open_store(url) as store:
        people = store.people()
        assert len(people) == 100 and all(p.templates == 3 for p in people)
        assert store.counts() == {"people": 100, "templates": 300, "events": 100, "unknown_groups": 0, "unknown_sightings": 0}
        assert len(store.gallery(MODEL)) == 300
    assert seen["reloads"] >= 1 and seen["sizes_seen"] >= 2  # it saw the gallery grow while running


def test_a_station_killed_half_way_through_an_enrollment_leaves_no_partial_person(url: str) -> None:
    blocker = psycopg.connect(url, autocommit=True)
    blocker.execute("SET search_path TO faceapp")
    blocker.execute("BEGIN")
    blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")  # the enrollment stops at its last step
    victim = station("enroll-one", url, "Mallory")
    # Polled on a connection of its own, outside any transaction: pg_stat_activity is read once
    # per transaction, so polling it inside one would see the same rows forever.
    look = psycopg.connect(url, autocommit=True)
    blocked = "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
    try:
        assert json.loads(victim.stdout.readline()) == {"started": True}
        within(20, lambda: look.execute(blocked, (blocker.info.backend_pid,)).fetchone() is not None)
        backend = look.execute(blocked, (blocker.info.backend_pid,)).fetchone()[0]  # its person and templates
        os.kill(victim.pid, signal.SIGKILL)                                         # are written, not committed
        victim.wait(10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # The server ends the orphaned transaction: rolled back.
    within(30, lambda: look.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()[0] == 0)
    look.close()
    with open_store(url) as store:
        assert store.counts() == {"people": 0, "templates": 0, "events": 0, "unknown_groups": 0, "unknown_sightings": 0}
        store.enroll("Mallory", encodings(1), MODEL)  # the name is free: nothing half-made holds it


# -- the server goes away and comes back -----------------------------------------------------


def test_an_identify_loop_goes_on_through_a_server_restart_and_its_events_arrive_once(
    url: str, cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(url) as admin:
        alice = admin.enroll("Alice", encodings(1, seed=3), MODEL)
    probe = encodings(1, seed=3)[0]
    frames: list[tuple[int, bool, str | None]] = []  # (frame, written at once, name matched)
    stop = threading.Event()
    failures: list[BaseException] = []

    def identify_loop() -> None:
        try:
            with Database.open(url, station="door") as db:
                shared = db.shared_gallery(MODEL, None)
                i = 0
                while not stop.is_set():
                    match = identify(probe, shared.current(), threshold=0.5)
                    written = db.log_event("identify", person_id=match.person_id, name=match.name,
                                           decision="recognised", distance=match.distance, source=f"frame {i}")
                    frames.append((i, written, match.name))
                    i += 1
                    time.sleep(0.02)
                shared.close()
        except BaseException as exc:  # the test fails on it below: the loop must never crash
            failures.append(exc)

    with caplog.at_level("WARNING", logger="faceapp.station"):
        loop = threading.Thread(target=identify_loop)
        loop.start()
        within(5, lambda: len(frames) >= 10)
        cluster.stop()
        try:
            within(10, lambda: any(not written for _, written, _ in frames))  # it noticed, and kept going
            during = len(frames)
            within(10, lambda: len(frames) >= during + 20)
        finally:
            cluster.start()
        within(15, lambda: frames[-1][1])  # writing again
        stop.set()
        loop.join(30)
    assert failures == []
    assert all(name == "Alice" for _, _, name in frames)  # matched all along, from the gallery held
    assert "gallery offline" in caplog.text and "gallery online again" in caplog.text
    with open_store(url) as store:
        logged = [e for e in store.events(limit=100_000) if e["kind"] == "identify"]
    sources = sorted(int(e["source"].split()[1]) for e in logged)
    assert sources == list(range(len(frames)))  # every frame's event, the gap's too, each once
    assert {(e["person_id"], e["station"]) for e in logged} == {(alice, "door")}


def test_events_kept_offline_are_written_at_close_when_the_server_is_back_within_the_back_off(
        url: str, cluster: PostgresCluster) -> None:
    with Database.open(url, station="desk") as db:
        db.log_event("identify", decision="unknown", distance=1.2, source="before")
        cluster.stop()
        try:
            for i in range(3):  # the first fails to reconnect; the others wait out the back-off
                assert not db.log_event("identify", decision="unknown", distance=1.2, source=f"offline {i}")
        finally:
            cluster.start()
    # closed within RECONNECT_AFTER_S of the failed reconnect: the close still tries the server
    with open_store(url) as store:
        sources = sorted(e["source"] for e in store.events(limit=100) if e["kind"] == "identify")
    assert sources == ["before", "offline 0", "offline 1", "offline 2"]
