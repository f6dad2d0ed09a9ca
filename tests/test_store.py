"""Specification of faceapp.store: the SQLite database of people, templates and events.

Every test works on a real file under tmp_path; other programs are played by plain sqlite3
connections, never by mocks.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from faceapp.errors import FaceAppError, StoreError, UnknownPersonError
from faceapp.match import identify
from faceapp.store import MIGRATIONS, SCHEMA_VERSION, PersonInfo, Store, StoredCrop, validate_name

DIM = 128
MODEL = "faceapp-encoder-v1"


def encodings(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, read by an independent connection."""
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("people", "templates", "events")
        }
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "faceapp.db"


@pytest.fixture
def store(db_path: Path):
    with Store.open(db_path, busy_timeout_ms=200) as s:
        yield s


# -- opening ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_new_database_is_private_and_in_wal_mode(db_path: Path) -> None:
    old_umask = os.umask(0o022)  # a typical permissive umask must not leak the file
    try:
        with Store.open(db_path) as s:
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


def test_create_false_refuses_a_missing_file_and_creates_nothing(db_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        Store.open(db_path, create=False)
    assert not db_path.exists()


def test_a_second_store_on_the_same_file_sees_the_first_ones_writes(db_path: Path) -> None:
    with Store.open(db_path) as a, Store.open(db_path) as b:
        a.enroll("Alice", encodings(2), MODEL)
        assert [p.name for p in b.people()] == ["Alice"]
        b.enroll("Bob", encodings(1, seed=1), MODEL)
        assert a.has_person("bob")


# -- enrolment -------------------------------------------------------------------------


def test_enrolled_encodings_read_back_bit_exact(store: Store) -> None:
    enc = encodings(3)
    pid = store.enroll(
        "Alice", enc, MODEL, sources=["a.jpg", "b.jpg", None], qualities=[0.9, 0.8, 0.7], thumbnail=b"\x89PNG..."
    )
    back = store.templates_of("alice", MODEL)
    assert back.dtype == np.float32
    assert back.tobytes() == enc.astype("<f4").tobytes()
    g = store.gallery(MODEL)
    assert g.for_person(pid).tobytes() == enc.tobytes()
    assert store.thumbnail("Alice") == b"\x89PNG..."
    info = store.person("ALICE")
    assert isinstance(info, PersonInfo)
    assert (info.id, info.name, info.templates, info.has_thumbnail) == (pid, "Alice", 3, True)
    assert info.created_at.endswith("+00:00")  # ISO-8601 UTC
    rows = store.db.execute("SELECT source, quality, typeof(encoding) FROM templates ORDER BY id").fetchall()
    assert rows == [("a.jpg", 0.9, "blob"), ("b.jpg", pytest.approx(0.8), "blob"), (None, pytest.approx(0.7), "blob")]


def test_enrolling_again_adds_templates_to_the_same_person(store: Store) -> None:
    first = store.enroll("Alice", encodings(2), MODEL)
    again = store.enroll("alice", encodings(1, seed=5), MODEL)
    assert again == first
    assert store.person("Alice").templates == 3
    assert [e["kind"] for e in store.events()] == ["enroll", "enroll"]


def test_new_person_refuses_an_existing_name(store: Store, db_path: Path) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    before = snapshot(db_path)
    with pytest.raises(StoreError, match="already enrolled"):
        store.enroll("ALICE", encodings(2, seed=1), MODEL, new_person=True)
    assert snapshot(db_path) == before


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.vstack([encodings(1), np.full((1, DIM), np.nan, np.float32)]), "encoding 2 of 2 contains NaN"),
        (np.vstack([encodings(1), np.full((1, DIM), np.inf, np.float32)]), "NaN or infinite"),
        (encodings(2, dim=64), "makes 128-D encodings but these are 64-D"),
        (np.empty((0, DIM), np.float32), "no encodings"),
        (encodings(2) * 3, "not L2-normalised"),
    ],
    ids=["nan-in-second-row", "inf", "wrong-dim-for-model", "empty", "not-unit"],
)
def test_a_failing_enroll_leaves_the_database_exactly_as_it_was(
    store: Store, db_path: Path, bad: np.ndarray, message: str
) -> None:
    store.enroll("Alice", encodings(2), MODEL)
    before = snapshot(db_path)
    for name in ("Alice", "Bob"):  # adding to someone, and creating someone
        with pytest.raises(StoreError, match=message):
            store.enroll(name, bad, MODEL, thumbnail=b"new")
        assert snapshot(db_path) == before
    assert not store.has_person("Bob")


def test_a_failure_inside_the_transaction_rolls_back_person_and_templates(store: Store, db_path: Path) -> None:
    """The 'enroll' event is written last; when SQLite refuses it, nothing earlier may stay."""
    store.enroll("Alice", encodings(1), MODEL, thumbnail=b"old")
    other = sqlite3.connect(db_path)
    other.execute("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'injected'); END")
    other.commit()
    other.close()
    before = snapshot(db_path)
    with pytest.raises(StoreError, match="injected"):
        store.enroll("Bob", encodings(3, seed=1), MODEL)
    with pytest.raises(StoreError, match="injected"):
        store.enroll("Alice", encodings(3, seed=2), MODEL, thumbnail=b"new")
    assert snapshot(db_path) == before
    assert store.thumbnail("Alice") == b"old"
    store.db.execute("DROP TRIGGER no_events")
    store.enroll("Bob", encodings(1, seed=1), MODEL)  # the connection is still usable
    assert [p.name for p in store.people()] == ["Alice", "Bob"]


def test_sources_and_qualities_must_match_the_encodings(store: Store) -> None:
    with pytest.raises(StoreError, match="sources has 1 entries for 2"):
        store.enroll("Alice", encodings(2), MODEL, sources=["a.jpg"])
    with pytest.raises(StoreError, match="qualities"):
        store.enroll("Alice", encodings(1), MODEL, qualities=[float("nan")])
    assert store.people() == []


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\t\n", "Ali\x00ce", "Bob\nSmith", "Eve\x1b[31m", "x" * 101, "!!!", " - . ", 42, "\u200b\ufeff",
     "Ann\u202eht", "Bob \u2067Eve\u2069"],
    ids=["empty", "spaces", "whitespace", "nul", "newline", "escape", "too-long", "punctuation", "dashes", "not-text",
         "only-invisible", "bidi-override", "bidi-isolate"],
)
def test_bad_names_are_rejected(store: Store, name: object) -> None:
    with pytest.raises(StoreError):
        validate_name(name)  # type: ignore[arg-type]
    with pytest.raises(FaceAppError):
        store.enroll(name, encodings(1), MODEL)  # type: ignore[arg-type]
    assert store.people() == []


@pytest.mark.parametrize("name", ["Zoë Ångström", "李雷", "O'Brien-Smith", "R2-D2", "x" * 100, "Дмитрий"])
def test_unicode_names_are_accepted_and_kept(store: Store, name: str) -> None:
    store.enroll(f"  {name} ", encodings(1), MODEL)
    assert [p.name for p in store.people()] == [name]


def test_names_are_cleaned_and_unique_regardless_of_case(store: Store) -> None:
    assert validate_name("  Mary   Ann ") == "Mary Ann"
    assert validate_name("Zoe\u0308") == "Zoë"  # decomposed ë is the same name as composed
    a = store.enroll("Zoë Ångström", encodings(1), MODEL)
    assert store.enroll("ZOË ÅNGSTRÖM", encodings(1, seed=1), MODEL) == a  # unicode case folds too
    assert store.enroll("Zoe\u0308 Ångström", encodings(1, seed=2), MODEL) == a
    store.enroll("alice", encodings(1, seed=3), MODEL)
    with pytest.raises(StoreError, match="already enrolled"):
        store.enroll("ALICE", encodings(1, seed=4), MODEL, new_person=True)
    assert [(p.name, p.templates) for p in store.people()] == [("alice", 1), ("Zoë Ångström", 3)]


def test_invisible_characters_pasted_into_a_name_do_not_make_another_person(store: Store) -> None:
    assert validate_name("\ufeffAnn\u200b Lee\u00ad") == "Ann Lee"
    assert validate_name("\u0627\u200c\u0628") == "\u0627\u200c\u0628"  # ZWNJ spells some scripts: kept
    ann = store.enroll("Ann Lee", encodings(1), MODEL)
    assert store.enroll("Ann\u200b Lee", encodings(1, seed=1), MODEL) == ann
    assert store.person("\u2060ann lee").templates == 2  # look-ups clean the same way
    assert [p.name for p in store.people()] == ["Ann Lee"]


# -- people ----------------------------------------------------------------------------


def test_people_are_listed_by_name_and_unknown_names_raise(store: Store) -> None:
    store.enroll("carol", encodings(1), MODEL)
    store.enroll("Bob", encodings(2, seed=1), MODEL, thumbnail=b"t")
    store.enroll("Álvaro", encodings(1, seed=2), MODEL)
    store.enroll("alice", encodings(1, seed=3), MODEL)
    people = store.people()
    assert [p.name for p in people] == ["alice", "Bob", "carol", "Álvaro"]
    assert [p.has_thumbnail for p in people] == [False, True, False, False]
    assert store.thumbnail("carol") is None
    assert not store.has_person("Dave")
    with pytest.raises(UnknownPersonError, match="no person named 'Dave' is enrolled"):
        store.person("Dave")
    for call in (store.thumbnail, store.delete, lambda n: store.templates_of(n, MODEL), lambda n: store.rename(n, "X")):
        with pytest.raises(UnknownPersonError):
            call("Dave")


def test_rename_keeps_templates_and_refuses_a_taken_name(store: Store) -> None:
    pid = store.enroll("Alice", encodings(2), MODEL)
    store.enroll("Bob", encodings(1, seed=1), MODEL)
    with pytest.raises(StoreError, match="'Bob' is already enrolled"):
        store.rename("Alice", "bob")
    store.rename("alice", "Alicia")
    assert not store.has_person("Alice")
    assert store.person("Alicia").id == pid and store.person("Alicia").templates == 2
    store.rename("Alicia", "ALICIA")  # changing only the case of one's own name is fine
    assert store.person("alicia").name == "ALICIA"
    with pytest.raises(StoreError):
        store.rename("ALICIA", "   ")
    assert store.gallery(MODEL).names[pid] == "ALICIA"


def test_delete_cascades_to_templates_and_events_keep_the_name(store: Store, db_path: Path) -> None:
    pid = store.enroll("Alice", encodings(3), MODEL)
    store.enroll("Alice", encodings(1, seed=9), "older-model")
    store.enroll("Bob", encodings(1, seed=1), MODEL)
    store.log_event("verify", person_id=pid, decision="accepted", distance=0.4, source="cam")
    assert store.delete("ALICE") == 4
    assert not store.has_person("Alice")
    rows = snapshot(db_path)
    assert all(t[1] != pid for t in rows["templates"])
    alice_events = store.events(name="Alice")
    assert [e["kind"] for e in alice_events] == ["verify", "enroll", "enroll"]
    assert all(e["person_id"] is None and e["name"] == "Alice" for e in alice_events)
    assert store.gallery(MODEL).person_ids.tolist() == [store.person("Bob").id]


# -- templates and models --------------------------------------------------------------


def test_gallery_holds_only_the_models_templates_and_others_are_stale(store: Store) -> None:
    alice = store.enroll("Alice", encodings(2), MODEL)
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    store.enroll("Alice", encodings(3, dim=64, seed=2), "old-model")  # another model may have another dim
    store.enroll("Carol", encodings(1, dim=64, seed=3), "old-model")
    store.enroll("Carol", encodings(1, seed=4), "other-model")

    g = store.gallery(MODEL)
    assert (len(g), g.dim, g.model_id) == (3, DIM, MODEL)
    assert sorted(g.person_ids.tolist()) == sorted([alice, alice, bob])
    assert store.stale_templates(MODEL) == {"old-model": 4, "other-model": 1}
    assert store.stale_templates("old-model") == {MODEL: 3, "other-model": 1}
    assert store.templates_of("Carol", MODEL).shape == (0, DIM)
    assert store.templates_of("Carol", "old-model").shape == (1, 64)

    probe = encodings(1, seed=1)[0]  # Bob's own template
    m = identify(probe, g, threshold=0.5)
    assert (m.name, m.person_id, m.accepted) == ("Bob", bob, True)


def test_a_damaged_template_is_left_out_of_matching_and_named_but_kept_in_the_file(
    store: Store, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = store.enroll("Alice", encodings(2), MODEL)
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    first = store.db.execute("SELECT id FROM templates WHERE person_id = ? ORDER BY id", (alice,)).fetchone()[0]
    garbage = np.full(DIM, 3e38, "<f4").tobytes()  # what overwritten bytes look like: not a unit vector
    store.db.execute("UPDATE templates SET encoding = ? WHERE id = ?", (garbage, first))
    store.db.conn.commit()

    with caplog.at_level("WARNING", logger="faceapp.store"):
        g = store.gallery(MODEL)
    assert sorted(g.person_ids.tolist()) == sorted([alice, bob])  # everyone else still matches
    assert "1 damaged template(s)" in caplog.text and "Alice" in caplog.text and "Bob" not in caplog.text
    assert identify(encodings(1, seed=1)[0], g, threshold=0.5).name == "Bob"
    assert store.templates_of("Alice", MODEL).shape == (1, DIM)  # verify sees her healthy template
    assert store.db.execute("SELECT COUNT(*) FROM templates").fetchone()[0] == 3  # nothing was deleted


def test_a_persons_templates_are_listed_with_their_source_and_state(store: Store) -> None:
    store.enroll("Alice", encodings(2), MODEL, sources=["a.jpg", None], qualities=[0.9, 0.5], crops=[b"png", None])
    store.enroll("Alice", encodings(1, seed=3), "older-model", sources=["camera 0"])
    store.enroll("Bob", encodings(1, seed=1), MODEL)
    first = store.templates("alice")[0].id  # case-insensitive, like every look-up
    store.db.execute("UPDATE templates SET encoding = ? WHERE id = ?", (np.full(DIM, 3e38, "<f4").tobytes(), first))
    store.db.conn.commit()

    listed = store.templates("Alice")
    assert [(t.model_id, t.source, t.quality, t.has_crop, t.damaged) for t in listed] == [
        (MODEL, "a.jpg", pytest.approx(0.9), True, True),
        (MODEL, "", pytest.approx(0.5), False, False),
        ("older-model", "camera 0", None, False, False),
    ]
    assert listed == sorted(listed, key=lambda t: t.id) and all(t.created_at for t in listed)
    assert [store.template_crop("Alice", t.id) for t in listed] == [b"png", None, None]
    assert store.stale_people(MODEL) == {"Alice": 1} and store.stale_people("older-model") == {"Alice": 2, "Bob": 1}
    with pytest.raises(StoreError, match="Alice has no template"):
        store.template_crop("Alice", store.templates("Bob")[0].id)
    with pytest.raises(UnknownPersonError):
        store.templates("Nobody")


def test_removing_one_template_keeps_the_person_and_their_other_templates(store: Store) -> None:
    store.enroll("Alice", encodings(3), MODEL)
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    first, *rest = [t.id for t in store.templates("Alice")]

    assert store.delete_template("Alice", first) == 2
    assert [t.id for t in store.templates("Alice")] == rest
    assert store.templates_of("Alice", MODEL).shape == (2, DIM)
    bobs = store.templates("Bob")[0].id
    with pytest.raises(StoreError, match="Alice has no template"):
        store.delete_template("Alice", bobs)  # someone else's id: refused, nothing goes
    with pytest.raises(StoreError, match="no template"):
        store.delete_template("Alice", first)  # already gone
    assert store.gallery(MODEL).person_ids.tolist().count(bob) == 1

    for template_id in rest:
        store.delete_template("alice", template_id)
    assert store.person("Alice").templates == 0  # still enrolled by name, with nothing to match
    assert store.templates("Alice") == []


def test_removing_a_template_replaces_the_thumbnail_by_a_remaining_crop_or_clears_it(store: Store) -> None:
    store.enroll("Alice", encodings(3), MODEL, qualities=[0.4, 0.9, 0.7], crops=[b"low", b"best", None],
                 thumbnail=b"thumbnail from the first photo")
    low, best, no_crop = (t.id for t in store.templates("Alice"))
    store.delete_template("Alice", low)
    assert store.thumbnail("Alice") == b"best"  # the best remaining kept crop
    store.delete_template("Alice", best)
    assert store.thumbnail("Alice") is None and not store.person("Alice").has_thumbnail  # no crop left to show
    store.delete_template("Alice", no_crop)
    assert store.thumbnail("Alice") is None


def test_gallery_of_a_model_without_templates_is_empty(store: Store) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    g = store.gallery("brand-new-model")
    assert len(g) == 0
    m = identify(encodings(1, dim=256)[0], g, threshold=1.0)
    assert (m.name, m.accepted) == (None, False)


def test_templates_keep_their_crop_and_stale_ones_are_listed_page_by_page(store: Store) -> None:
    store.enroll("Alice", encodings(2), "old-model", crops=[b"alice-1", b"alice-2"])
    bob = store.enroll("Bob", encodings(2, seed=1), "old-model", crops=[b"bob-1", None])  # one kept no crop
    store.enroll("Carol", encodings(1, seed=2), MODEL, crops=[b"carol-1"])  # already the current model's
    first = store.stale_crops(MODEL, limit=2)
    assert [c.crop for c in first] == [b"alice-1", b"alice-2"]
    rest = store.stale_crops(MODEL, after_id=first[-1].template_id, limit=2)
    assert rest == [StoredCrop(rest[0].template_id, bob, "old-model", b"bob-1")]
    assert store.stale_crops(MODEL, after_id=rest[-1].template_id) == []
    assert store.stale_without_crop(MODEL) == 1
    with pytest.raises(StoreError, match="crop must be image bytes"):
        store.enroll("Dave", encodings(1), MODEL, crops=["not bytes"])
    with pytest.raises(StoreError, match="crops has 1 entries for 2"):
        store.enroll("Dave", encodings(2), MODEL, crops=[b"x"])


def test_reencode_moves_templates_to_the_new_model_and_keeps_everything_else(store: Store, db_path: Path) -> None:
    alice = store.enroll("Alice", encodings(2, dim=64), "old-model", sources=["a.jpg", "b.jpg"], qualities=[0.5, 0.9],
                         crops=[b"c1", b"c2"])
    ids = [c.template_id for c in store.stale_crops(MODEL)]
    new = encodings(2, seed=7)
    assert store.reencode(MODEL, ids, new) == 2
    gallery = store.gallery(MODEL)
    np.testing.assert_array_equal(gallery.encodings, new)
    assert gallery.person_ids.tolist() == [alice, alice]
    assert store.stale_templates(MODEL) == {} and store.stale_crops(MODEL) == []
    rows = snapshot(db_path)["templates"]  # person, source, quality and crop are unchanged
    assert [(r[1], r[3], r[5], r[6], r[8]) for r in rows] == [(alice, DIM, "a.jpg", 0.5, b"c1"), (alice, DIM, "b.jpg", 0.9, b"c2")]
    assert store.reencode(MODEL, ids, new) == 0  # already the model's: nothing to change


def test_templates_without_a_crop_are_listed_with_their_source_and_can_get_one(store: Store) -> None:
    from faceapp.store import StoredSource

    alice = store.enroll("Alice", encodings(2), "old-model", sources=["/photos/a.jpg", None])  # one knows no source
    store.enroll("Bob", encodings(1, seed=1), "old-model", sources=["/photos/b.jpg"], crops=[b"kept"])
    (listed,) = store.stale_sources(MODEL)
    assert listed == StoredSource(listed.template_id, alice, "old-model", "/photos/a.jpg")
    assert store.stale_sources(MODEL, after_id=listed.template_id) == []
    assert store.reencode(MODEL, [listed.template_id], encodings(1, seed=2), crops=[b"new crop"]) == 1
    assert [c.crop for c in store.stale_crops("a-later-model")] == [b"new crop", b"kept"]
    assert store.stale_without_crop(MODEL) == 1 and store.stale_sources(MODEL) == []


def test_reencode_refuses_bad_input_and_changes_nothing(store: Store, db_path: Path) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    store.enroll("Bob", encodings(1, dim=64), "old-model", crops=[b"c"])
    ids = [c.template_id for c in store.stale_crops(MODEL)]
    before = snapshot(db_path)
    with pytest.raises(StoreError, match="makes 128-D encodings but these are 64-D"):
        store.reencode(MODEL, ids, encodings(1, dim=64))
    with pytest.raises(StoreError, match="2 template ids for 1 encodings"):
        store.reencode(MODEL, ids * 2, encodings(1))
    with pytest.raises(StoreError, match="not L2-normalised"):
        store.reencode(MODEL, ids, encodings(1) * 2)
    assert snapshot(db_path) == before


# -- events ----------------------------------------------------------------------------


def test_events_are_newest_first_and_filterable(store: Store) -> None:
    pid = store.enroll("Alice", encodings(1), MODEL)
    store.log_event("identify", decision="unknown", distance=float("inf"), source="webcam")
    store.log_event("verify", person_id=pid, decision="accepted", distance=0.31)
    store.log_event("identify", name="alice", decision="accepted", distance=0.2)
    events = store.events()
    assert [e["kind"] for e in events] == ["identify", "verify", "identify", "enroll"]
    assert events[1]["name"] == "Alice"  # filled in from the person id
    assert events[0]["person_id"] == pid  # filled in from the name
    assert events[2]["distance"] is None and events[2]["name"] is None
    assert set(events[0]) == {"id", "at", "kind", "person_id", "name", "decision", "distance", "source"}
    assert [e["kind"] for e in store.events(limit=2)] == ["identify", "verify"]
    assert len(store.events(name="Alice")) == 3
    store.rename("Alice", "Alicia")
    assert len(store.events(name="Alicia")) == 3, "a rename keeps the person's history"
    with pytest.raises(ValueError):
        store.log_event("delete")


# -- migrations ------------------------------------------------------------------------


def test_a_version_0_database_without_tables_is_upgraded(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE scratch (x)")
    conn.execute("DROP TABLE scratch")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with Store.open(db_path, create=False) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"people", "templates", "events"} <= set(s.db.table_names())
        s.enroll("Alice", encodings(1), MODEL)
    with Store.open(db_path) as s:  # reopening an up-to-date database changes nothing
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
    with Store.open(db_path, create=False) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert s.person("Alice").templates == 1
        assert s.stale_without_crop(MODEL) == 1 and s.stale_crops(MODEL) == []
        np.testing.assert_array_equal(s.templates_of("Alice", "old-model"), encodings(1))


def test_a_database_from_a_newer_faceapp_is_refused_untouched(db_path: Path) -> None:
    with Store.open(db_path) as s:
        s.enroll("Alice", encodings(1), MODEL)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="newer faceapp") as err:
        Store.open(db_path)
    assert str(db_path) in str(err.value)
    assert db_path.read_bytes() == before


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not faceapp's"):
        Store.open(path)
    assert path.read_bytes() == before


# -- damaged, foreign and locked files -------------------------------------------------


def test_a_garbage_file_is_refused_with_its_path_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    garbage = b"\xff\xd8\xff\xe0 this is not a database " * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a faceapp database") as err:
        Store.open(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == garbage


@pytest.mark.parametrize("keep", [0.5, 0.9, 60], ids=["half", "most", "60-bytes"])
def test_a_truncated_database_is_reported_damaged_and_not_overwritten(db_path: Path, keep: float) -> None:
    with Store.open(db_path) as s:
        for i in range(30):
            s.enroll(f"person {i}", encodings(4, seed=i), MODEL, thumbnail=bytes(2000))
    data = db_path.read_bytes()
    assert len(data) > 40_000
    cut = data[: int(len(data) * keep) if keep < 1 else int(keep)]
    db_path.write_bytes(cut)
    with pytest.raises(StoreError, match="damaged") as err:
        Store.open(db_path)
    assert str(db_path) in str(err.value) and "--db" in str(err.value)
    assert db_path.read_bytes() == cut


def test_a_damaged_page_that_opening_does_not_read_is_still_detected(db_path: Path) -> None:
    with Store.open(db_path) as s:
        for i in range(30):
            s.enroll(f"person {i}", encodings(4, seed=i), MODEL)
        page_size = s.db.execute("PRAGMA page_size").fetchone()[0]
        root = s.db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'templates'").fetchone()[0]
    data = bytearray(db_path.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = b"\xff" * page_size  # the templates table's root page
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged.*Restore a backup") as err:
        Store.open(db_path)
    assert str(db_path) in str(err.value)
    assert db_path.read_bytes() == bytes(data)


def test_a_write_while_another_program_holds_the_lock_fails_cleanly(db_path: Path) -> None:
    with Store.open(db_path) as s:
        s.enroll("Alice", encodings(1), MODEL)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(db_path, busy_timeout_ms=50) as s:
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
            Store.open(db_path, busy_timeout_ms=50)
        assert str(db_path) in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Store.open(db_path) as s:
        assert s.people() == []


def test_a_closed_store_says_so(db_path: Path) -> None:
    s = Store.open(db_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.people()


def test_memory_database_works_for_quick_use() -> None:
    with Store.open(":memory:") as s:
        s.enroll("Alice", encodings(1), MODEL)
        assert len(s.gallery(MODEL)) == 1
