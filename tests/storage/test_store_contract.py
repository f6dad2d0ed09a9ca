"""The gallery store contract: what every GalleryStore backend does, whatever holds the data.

Each test runs once per backend in conftest.BACKENDS, on a fresh, empty database; "another
program" is played by the backend fixture's own connection, never by mocks. What is about
one backend's files (SQLite headers, locking, migrations) lives in that backend's test file.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from faceapp.errors import FaceAppError, StoreError, UnknownPersonError
from faceapp.match import identify
from faceapp.names import validate_name
from faceapp.storage import GalleryStore, PersonInfo, SqliteStore, StoredCrop, StoredSource, open_store
from faceapp.storage.records import TRANSFER_COLUMNS, QueuedEvent

from .conftest import DIM, MODEL, Backend, encodings

# What the application needs from a store; the protocol must name exactly these.
PROTOCOL_MEMBERS = {
    "path", "close", "retry_now", "__enter__", "__exit__",
    "enroll", "people", "person", "has_person", "thumbnail", "rename", "delete",
    "gallery", "stale_templates", "stale_people", "stale_crops", "stale_sources", "stale_without_crop",
    "reencode", "templates_of", "templates", "template_crop", "delete_template",
    "log_event", "events", "purge_events", "merge_people", "move_template", "not_this_person",
    "schema_versions", "counts", "export_rows", "import_rows", "log_events",
    "remember_unknown", "unknown_encodings", "unknown_groups", "unknown_faces", "forget_unknown", "purge_unknowns",
}


def protocol_members(protocol: type) -> dict[str, object]:
    """The members a Protocol class declares itself: its annotations, functions and properties.

    (typing.get_protocol_members arrives only in Python 3.13.)
    """
    # An attribute declared by annotation alone has no value (None here) and so no docstring.
    members: dict[str, object] = dict.fromkeys(vars(protocol).get("__annotations__", {}))
    for name, value in vars(protocol).items():
        public = not name.startswith("_") or name in ("__enter__", "__exit__")  # not Protocol's own machinery
        if isinstance(value, property) or (inspect.isfunction(value) and public):
            members[name] = value
    return members


def parameters(function: Callable) -> list[tuple[str, object, object]]:
    """(name, kind, default) of each parameter: the part of a signature callers depend on."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


# -- the protocol ------------------------------------------------------------------------


def test_the_protocol_names_everything_the_application_needs_and_documents_it() -> None:
    members = protocol_members(GalleryStore)
    assert set(members) == PROTOCOL_MEMBERS
    undocumented = [name for name, member in members.items() if member is None or not inspect.getdoc(member)]
    assert undocumented == []


def test_the_store_satisfies_the_protocol_structurally(store: GalleryStore, backend: Backend) -> None:
    """Every member of GalleryStore exists on the backend's class, with the same parameters
    (names, kinds, defaults), so code written against the protocol runs on every backend."""
    cls = type(store)
    if backend.name == "sqlite":
        assert cls is SqliteStore
    for name, member in protocol_members(GalleryStore).items():
        if not inspect.isfunction(member):  # a property or an annotated attribute: an instance may set it
            assert hasattr(store, name), f"{cls.__name__} has no {name}"
            continue
        assert callable(getattr(cls, name, None)), f"{cls.__name__} has no method {name}"
        assert parameters(getattr(cls, name)) == parameters(member), f"{cls.__name__}.{name} has another signature"
    assert isinstance(store, GalleryStore)
    assert str(store.path)


def test_an_unreachable_postgresql_server_is_one_line_without_the_password_and_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for url in (f"postgresql://faceapp:secret@127.0.0.1:{port}/faces", f"PostgreSQL://u:secret@127.0.0.1:{port}/d",
                    f"postgres://127.0.0.1:{port}/faces?connect_timeout=2"):
            with pytest.raises(StoreError, match="cannot connect to the PostgreSQL server") as err:
                open_store(url)
            message = str(err.value)
            assert "secret" not in message and "\n" not in message and f"127.0.0.1:{port}" in message
    assert list(tmp_path.iterdir()) == []  # not mistaken for a file name


# -- opening -----------------------------------------------------------------------------


def test_a_second_store_on_the_same_database_sees_the_first_ones_writes(
    open_test_store: Callable[..., GalleryStore],
) -> None:
    a, b = open_test_store(), open_test_store()
    a.enroll("Alice", encodings(2), MODEL)
    assert [p.name for p in b.people()] == ["Alice"]
    b.enroll("Bob", encodings(1, seed=1), MODEL)
    assert a.has_person("bob")


def test_a_store_is_a_context_manager_that_closes_it(open_test_store: Callable[..., GalleryStore]) -> None:
    with open_test_store() as s:
        s.enroll("Alice", encodings(1), MODEL)
    with pytest.raises(StoreError, match="closed"):
        s.people()
    with open_test_store() as again:
        assert again.person("Alice").templates == 1


def test_a_closed_store_says_so(open_test_store: Callable[..., GalleryStore]) -> None:
    s = open_test_store()
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.people()


# -- enrolment ---------------------------------------------------------------------------


def test_enrolled_encodings_read_back_bit_exact(store: GalleryStore, backend: Backend) -> None:
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
    rows = backend.execute("SELECT source, quality FROM templates ORDER BY id")
    assert rows == [("a.jpg", 0.9), ("b.jpg", pytest.approx(0.8)), (None, pytest.approx(0.7))]


def test_enrolling_again_adds_templates_to_the_same_person(store: GalleryStore) -> None:
    first = store.enroll("Alice", encodings(2), MODEL)
    again = store.enroll("alice", encodings(1, seed=5), MODEL)
    assert again == first
    assert store.person("Alice").templates == 3
    assert [e["kind"] for e in store.events()] == ["enroll", "enroll"]


def test_new_person_refuses_an_existing_name(store: GalleryStore, backend: Backend) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    before = backend.snapshot()
    with pytest.raises(StoreError, match="already enrolled"):
        store.enroll("ALICE", encodings(2, seed=1), MODEL, new_person=True)
    assert backend.snapshot() == before


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
    store: GalleryStore, backend: Backend, bad: np.ndarray, message: str
) -> None:
    store.enroll("Alice", encodings(2), MODEL)
    before = backend.snapshot()
    for name in ("Alice", "Bob"):  # adding to someone, and creating someone
        with pytest.raises(StoreError, match=message):
            store.enroll(name, bad, MODEL, thumbnail=b"new")
        assert backend.snapshot() == before
    assert not store.has_person("Bob")


def test_a_failure_inside_the_transaction_rolls_back_person_and_templates(store: GalleryStore, backend: Backend) -> None:
    """The 'enroll' event is written last; when the database refuses it, nothing earlier may stay."""
    store.enroll("Alice", encodings(1), MODEL, thumbnail=b"old")
    backend.fail_event_inserts("injected")
    before = backend.snapshot()
    with pytest.raises(StoreError, match="injected"):
        store.enroll("Bob", encodings(3, seed=1), MODEL)
    with pytest.raises(StoreError, match="injected"):
        store.enroll("Alice", encodings(3, seed=2), MODEL, thumbnail=b"new")
    assert backend.snapshot() == before
    assert store.thumbnail("Alice") == b"old"
    backend.allow_event_inserts()
    store.enroll("Bob", encodings(1, seed=1), MODEL)  # the connection is still usable
    assert [p.name for p in store.people()] == ["Alice", "Bob"]


def test_sources_and_qualities_must_match_the_encodings(store: GalleryStore) -> None:
    with pytest.raises(StoreError, match="sources has 1 entries for 2"):
        store.enroll("Alice", encodings(2), MODEL, sources=["a.jpg"])
    with pytest.raises(StoreError, match="qualities"):
        store.enroll("Alice", encodings(1), MODEL, qualities=[float("nan")])
    assert store.people() == []


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\t\n", "Ali\x00ce", "Bob\nSmith", "Eve\x1b[31m", "x" * 101, "!!!", " - . ", 42, "\u200b\ufeff",
     "Ann\u202eht", "Bob \u2067Eve\u2069"],
    ids=["empty", "spaces", "whitespace", "nul", "newline", "escape", "too-long", "punctuation", "dashes", "not-text",
         "only-invisible", "bidi-override", "bidi-isolate"],
)
def test_bad_names_are_rejected(store: GalleryStore, name: object) -> None:
    with pytest.raises(StoreError):
        validate_name(name)  # type: ignore[arg-type]
    with pytest.raises(FaceAppError):
        store.enroll(name, encodings(1), MODEL)  # type: ignore[arg-type]
    assert store.people() == []


@pytest.mark.parametrize("name", ["Zoë Ångström", "李雷", "O'Brien-Smith", "R2-D2", "x" * 100, "Дмитрий"])
def test_unicode_names_are_accepted_and_kept(store: GalleryStore, name: str) -> None:
    store.enroll(f"  {name} ", encodings(1), MODEL)
    assert [p.name for p in store.people()] == [name]


def test_names_are_cleaned_and_unique_regardless_of_case(store: GalleryStore) -> None:
    a = store.enroll("Zoë Ångström", encodings(1), MODEL)
    assert store.enroll("ZOË ÅNGSTRÖM", encodings(1, seed=1), MODEL) == a  # unicode case folds too
    assert store.enroll("Zoe\u0308 Ångström", encodings(1, seed=2), MODEL) == a
    store.enroll("alice", encodings(1, seed=3), MODEL)
    with pytest.raises(StoreError, match="already enrolled"):
        store.enroll("ALICE", encodings(1, seed=4), MODEL, new_person=True)
    assert [(p.name, p.templates) for p in store.people()] == [("alice", 1), ("Zoë Ångström", 3)]


def test_invisible_characters_pasted_into_a_name_do_not_make_another_person(store: GalleryStore) -> None:
    ann = store.enroll("Ann Lee", encodings(1), MODEL)
    assert store.enroll("Ann\u200b Lee", encodings(1, seed=1), MODEL) == ann
    assert store.person("\u2060ann lee").templates == 2  # look-ups clean the same way
    assert [p.name for p in store.people()] == ["Ann Lee"]


# -- people ------------------------------------------------------------------------------


def test_people_are_listed_by_name_and_unknown_names_raise(store: GalleryStore) -> None:
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


def test_rename_keeps_templates_and_refuses_a_taken_name(store: GalleryStore) -> None:
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


def test_delete_erases_the_person_their_templates_and_their_events(store: GalleryStore, backend: Backend) -> None:
    pid = store.enroll("Alice", encodings(3), MODEL)
    store.enroll("Alice", encodings(1, seed=9), "older-model")
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    store.log_event("verify", person_id=pid, decision="accepted", distance=0.4, source="cam")
    store.log_event("verify", name="alice", decision="rejected", distance=1.4, source="cam")  # linked by name
    store.rename("Alice", "Alicia")  # events logged before a rename are hers too
    store.log_event("identify", decision="unknown", distance=1.5, source="cam")  # nobody's: stays
    store.log_event("identify", person_id=bob, decision="recognised", distance=0.3, source="cam")
    assert store.delete("ALICIA") == 4
    assert not store.has_person("Alicia")
    rows = backend.snapshot()
    assert all(t[1] != pid for t in rows["templates"])
    assert store.events(name="Alice") == [] and store.events(name="Alicia") == []
    assert [(e["kind"], e["name"]) for e in store.events()] == [("identify", "Bob"), ("identify", None), ("enroll", "Bob")]
    assert store.gallery(MODEL).person_ids.tolist() == [bob]


# -- templates and models ----------------------------------------------------------------


def test_gallery_holds_only_the_models_templates_and_others_are_stale(store: GalleryStore) -> None:
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


def test_a_damaged_template_is_left_out_of_matching_and_named_but_kept_in_the_database(
    store: GalleryStore, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    alice = store.enroll("Alice", encodings(2), MODEL)
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    first = backend.execute("SELECT id FROM templates WHERE person_id = ? ORDER BY id", (alice,))[0][0]
    garbage = np.full(DIM, 3e38, "<f4").tobytes()  # what overwritten bytes look like: not a unit vector
    backend.execute("UPDATE templates SET encoding = ? WHERE id = ?", (garbage, first))

    with caplog.at_level("WARNING", logger="faceapp.storage"):
        g = store.gallery(MODEL)
    assert sorted(g.person_ids.tolist()) == sorted([alice, bob])  # everyone else still matches
    assert "1 damaged template(s)" in caplog.text and "Alice" in caplog.text and "Bob" not in caplog.text
    assert {r.name for r in caplog.records} == {"faceapp.storage"}  # the one logger storage warns on
    assert identify(encodings(1, seed=1)[0], g, threshold=0.5).name == "Bob"
    assert store.templates_of("Alice", MODEL).shape == (1, DIM)  # verify sees her healthy template
    assert backend.execute("SELECT COUNT(*) FROM templates")[0][0] == 3  # nothing was deleted


def test_a_persons_templates_are_listed_with_their_source_and_state(store: GalleryStore, backend: Backend) -> None:
    store.enroll("Alice", encodings(2), MODEL, sources=["a.jpg", None], qualities=[0.9, 0.5], crops=[b"png", None])
    store.enroll("Alice", encodings(1, seed=3), "older-model", sources=["camera 0"])
    store.enroll("Bob", encodings(1, seed=1), MODEL)
    first = store.templates("alice")[0].id  # case-insensitive, like every look-up
    backend.execute("UPDATE templates SET encoding = ? WHERE id = ?", (np.full(DIM, 3e38, "<f4").tobytes(), first))

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


def test_removing_one_template_keeps_the_person_and_their_other_templates(store: GalleryStore) -> None:
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


def test_removing_a_template_replaces_the_thumbnail_by_a_remaining_crop_or_clears_it(store: GalleryStore) -> None:
    store.enroll("Alice", encodings(3), MODEL, qualities=[0.4, 0.9, 0.7], crops=[b"low", b"best", None],
                 thumbnail=b"thumbnail from the first photo")
    low, best, no_crop = (t.id for t in store.templates("Alice"))
    store.delete_template("Alice", low)
    assert store.thumbnail("Alice") == b"best"  # the best remaining kept crop
    store.delete_template("Alice", best)
    assert store.thumbnail("Alice") is None and not store.person("Alice").has_thumbnail  # no crop left to show
    store.delete_template("Alice", no_crop)
    assert store.thumbnail("Alice") is None


def test_gallery_rows_line_up_with_their_people_however_enrollments_interleave(store: GalleryStore) -> None:
    own = {"Alice": encodings(3, seed=1), "Bob": encodings(1, seed=2), "Carol": encodings(4, seed=3)}
    ids = {"Bob": store.enroll("Bob", own["Bob"], MODEL), "Alice": store.enroll("Alice", own["Alice"][:2], MODEL)}
    ids["Carol"] = store.enroll("Carol", own["Carol"], MODEL)
    store.enroll("Alice", own["Alice"][2:], MODEL)
    g = store.gallery(MODEL)
    assert len(g) == 8
    for name, pid in ids.items():
        rows = g.encodings[g.person_ids == pid]
        assert sorted(map(bytes, rows)) == sorted(map(bytes, own[name]))


def test_a_template_of_the_wrong_size_or_dimension_is_left_out_naming_its_person(
    store: GalleryStore, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # One damaged row must not stop matching for everyone, whatever is wrong with it.
    alice = store.enroll("Alice", encodings(2), MODEL)
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    first = backend.execute("SELECT id FROM templates WHERE person_id = ? ORDER BY id", (alice,))[0][0]
    backend.execute("UPDATE templates SET encoding = ? WHERE id = ?", (encodings(1)[0][:-1].tobytes(), first))
    with caplog.at_level("WARNING"):
        g = store.gallery(MODEL)
    assert sorted(g.person_ids.tolist()) == [alice, bob] and g.encodings.shape[1] == 128
    assert "1 damaged template(s)" in caplog.text and "Alice" in caplog.text
    backend.execute("UPDATE templates SET dim = ?, encoding = ? WHERE id = ?", (64, encodings(1, dim=64)[0].tobytes(), first))
    g = store.gallery(MODEL)  # the dimension most templates have wins
    assert sorted(g.person_ids.tolist()) == [alice, bob] and g.encodings.shape[1] == 128


def test_gallery_of_a_model_without_templates_is_empty(store: GalleryStore) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    g = store.gallery("brand-new-model")
    assert len(g) == 0
    m = identify(encodings(1, dim=256)[0], g, threshold=1.0)
    assert (m.name, m.accepted) == (None, False)


def test_templates_keep_their_crop_and_stale_ones_are_listed_page_by_page(store: GalleryStore) -> None:
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
        store.enroll("Dave", encodings(1), MODEL, crops=["not bytes"])  # type: ignore[list-item]
    with pytest.raises(StoreError, match="crops has 1 entries for 2"):
        store.enroll("Dave", encodings(2), MODEL, crops=[b"x"])


def test_reencode_moves_templates_to_the_new_model_and_keeps_everything_else(store: GalleryStore,
                                                                              backend: Backend) -> None:
    alice = store.enroll("Alice", encodings(2, dim=64), "old-model", sources=["a.jpg", "b.jpg"], qualities=[0.5, 0.9],
                         crops=[b"c1", b"c2"])
    ids = [c.template_id for c in store.stale_crops(MODEL)]
    new = encodings(2, seed=7)
    assert store.reencode(MODEL, ids, new) == 2
    gallery = store.gallery(MODEL)
    np.testing.assert_array_equal(gallery.encodings, new)
    assert gallery.person_ids.tolist() == [alice, alice]
    assert store.stale_templates(MODEL) == {} and store.stale_crops(MODEL) == []
    rows = backend.snapshot()["templates"]  # person, source, quality and crop are unchanged
    assert [(r[1], r[3], r[5], r[6], r[8]) for r in rows] == [(alice, DIM, "a.jpg", 0.5, b"c1"), (alice, DIM, "b.jpg", 0.9, b"c2")]
    assert store.reencode(MODEL, ids, new) == 0  # already the model's: nothing to change


def test_templates_without_a_crop_are_listed_with_their_source_and_can_get_one(store: GalleryStore) -> None:
    alice = store.enroll("Alice", encodings(2), "old-model", sources=["/photos/a.jpg", None])  # one knows no source
    store.enroll("Bob", encodings(1, seed=1), "old-model", sources=["/photos/b.jpg"], crops=[b"kept"])
    (listed,) = store.stale_sources(MODEL)
    assert listed == StoredSource(listed.template_id, alice, "old-model", "/photos/a.jpg")
    assert store.stale_sources(MODEL, after_id=listed.template_id) == []
    assert store.reencode(MODEL, [listed.template_id], encodings(1, seed=2), crops=[b"new crop"]) == 1
    assert [c.crop for c in store.stale_crops("a-later-model")] == [b"new crop", b"kept"]
    assert store.stale_without_crop(MODEL) == 1 and store.stale_sources(MODEL) == []


def test_reencode_refuses_bad_input_and_changes_nothing(store: GalleryStore, backend: Backend) -> None:
    store.enroll("Alice", encodings(1), MODEL)
    store.enroll("Bob", encodings(1, dim=64), "old-model", crops=[b"c"])
    ids = [c.template_id for c in store.stale_crops(MODEL)]
    before = backend.snapshot()
    with pytest.raises(StoreError, match="makes 128-D encodings but these are 64-D"):
        store.reencode(MODEL, ids, encodings(1, dim=64))
    with pytest.raises(StoreError, match="2 template ids for 1 encodings"):
        store.reencode(MODEL, ids * 2, encodings(1))
    with pytest.raises(StoreError, match="not L2-normalised"):
        store.reencode(MODEL, ids, encodings(1) * 2)
    assert backend.snapshot() == before


# -- events ------------------------------------------------------------------------------


def test_events_are_newest_first_and_filterable(store: GalleryStore) -> None:
    pid = store.enroll("Alice", encodings(1), MODEL)
    store.log_event("identify", decision="unknown", distance=float("inf"), source="webcam")
    store.log_event("verify", person_id=pid, decision="accepted", distance=0.31)
    store.log_event("identify", name="alice", decision="accepted", distance=0.2)
    events = store.events()
    assert [e["kind"] for e in events] == ["identify", "verify", "identify", "enroll"]
    assert events[1]["name"] == "Alice"  # filled in from the person id
    assert events[0]["person_id"] == pid  # filled in from the name
    assert events[2]["distance"] is None and events[2]["name"] is None
    assert set(events[0]) == {"id", "at", "kind", "person_id", "name", "decision", "distance", "source", "station"}
    assert [e["kind"] for e in store.events(limit=2)] == ["identify", "verify"]
    assert len(store.events(name="Alice")) == 3
    store.rename("Alice", "Alicia")
    assert len(store.events(name="Alicia")) == 3, "a rename keeps the person's history"
    store.enroll("Alice", encodings(1, seed=5), MODEL)  # someone new takes the old name
    assert [e["kind"] for e in store.events(name="Alice")] == ["enroll"], "never another person's events"
    assert len(store.events(name="Alicia")) == 3
    store.log_event("identify", name="Nobody Enrolled", decision="recognised", distance=0.4)  # tied to no one
    assert [e["name"] for e in store.events(name="nobody enrolled")] == ["Nobody Enrolled"]
    with pytest.raises(ValueError):
        store.log_event("delete")


def test_events_filter_by_time_and_kind_and_the_filters_combine(store: GalleryStore) -> None:
    queued = [QueuedEvent("u1", "2030-01-01T09:00:00.000+00:00", "identify", name="Alice", decision="recognised"),
              QueuedEvent("u2", "2030-01-02T09:00:00.000+00:00", "verify", name="Bob", decision="accepted"),
              QueuedEvent("u3", "2030-01-03T09:00:00.000+00:00", "identify", name="Bob", decision="recognised")]
    store.log_events(queued)
    assert [e["name"] for e in store.events(since=datetime(2030, 1, 2))] == ["Bob", "Bob"]  # naive: UTC
    assert [e["at"][:10] for e in store.events(since=datetime(2030, 1, 2, 9))] == ["2030-01-03", "2030-01-02"]
    assert [e["name"] for e in store.events(kind="identify")] == ["Bob", "Alice"]
    assert [e["at"][:10] for e in store.events(name="bob", kind="identify")] == ["2030-01-03"]
    assert store.events(since=datetime(2030, 1, 4)) == []
    with pytest.raises(ValueError):
        store.events(kind="delete")


# -- corrections -------------------------------------------------------------------------


def test_merge_moves_templates_and_events_and_removes_the_source_in_one_step(
        store: GalleryStore, backend: Backend) -> None:
    ada = store.enroll("Ada", encodings(2), MODEL, thumbnail=b"ada-face")
    lovelace = store.enroll("Ada Lovelace", encodings(1, seed=3), MODEL)
    store.log_event("identify", person_id=ada, decision="recognised", distance=0.3)
    assert store.merge_people("ada", "Ada Lovelace") == (2, 2)  # her enroll and identify events
    assert not store.has_person("Ada")
    assert store.person("Ada Lovelace").templates == 3
    assert store.thumbnail("Ada Lovelace") == b"ada-face"  # she had none: the merged one's
    rows = backend.snapshot()
    assert {t[1] for t in rows["templates"]} == {lovelace}
    assert all(e[3] in (lovelace, None) for e in rows["events"])
    events = store.events()
    assert events[0]["kind"] == "correct" and "merged Ada into Ada Lovelace" in events[0]["decision"]
    assert [e["name"] for e in store.events(name="Ada Lovelace")][1:] == ["Ada", "Ada Lovelace", "Ada"], \
        "the merged events keep the name they were logged under and now belong to the target"
    assert sorted(store.gallery(MODEL).person_ids.tolist()) == [lovelace] * 3


def test_a_refused_merge_changes_nothing(store: GalleryStore, backend: Backend) -> None:
    store.enroll("Ada", encodings(1), MODEL)
    before = backend.snapshot()
    with pytest.raises(StoreError, match="one person already"):
        store.merge_people("Ada", "ADA")
    with pytest.raises(UnknownPersonError):
        store.merge_people("Ada", "Nobody")
    assert backend.snapshot() == before


def test_move_template_gives_one_face_to_another_person_and_logs_it(store: GalleryStore, backend: Backend) -> None:
    alice = store.enroll("Alice", encodings(2), MODEL, crops=[b"alice-crop", b"bob-crop"], thumbnail=b"bob-crop")
    bob = store.enroll("Bob", encodings(1, seed=1), MODEL)
    wrong = store.templates("Alice")[1].id
    assert store.move_template("alice", wrong, "Bob") == 1
    assert wrong in [t.id for t in store.templates("Bob")] and len(store.templates("Bob")) == 2
    assert store.template_crop("Bob", wrong) == b"bob-crop"  # the crop goes with it
    assert store.thumbnail("Alice") == b"alice-crop", "her thumbnail no longer shows the moved face"
    assert store.gallery(MODEL).person_ids.tolist().count(bob) == 2
    event = store.events(limit=1)[0]
    assert (event["kind"], event["person_id"]) == ("correct", bob)
    assert f"moved template {wrong} from Alice to Bob" == event["decision"]
    before = backend.snapshot()
    with pytest.raises(StoreError, match="has no template"):
        store.move_template("Alice", wrong, "Bob")  # it is Bob's now
    with pytest.raises(StoreError, match="already"):
        store.move_template("Bob", wrong, "bob")
    assert backend.snapshot() == before
    assert store.person("Alice").id == alice


def test_not_this_person_clears_one_sighting_and_logs_who_was_corrected(store: GalleryStore, backend: Backend) -> None:
    ada = store.enroll("Ada", encodings(1), MODEL)
    wrong = store.log_event("identify", person_id=ada, decision="recognised", distance=0.3, source="door.mp4")
    right = store.log_event("identify", person_id=ada, decision="recognised", distance=0.2)
    assert store.not_this_person(wrong) == "Ada"
    by_id = {e["id"]: e for e in store.events()}
    assert (by_id[wrong]["person_id"], by_id[wrong]["name"], by_id[wrong]["decision"]) == (None, None, "corrected: not Ada")
    assert (by_id[right]["person_id"], by_id[right]["name"]) == (ada, "Ada"), "the other sighting stays hers"
    event = store.events(limit=1)[0]
    assert (event["kind"], event["person_id"], event["name"], event["source"]) == ("correct", ada, "Ada", "door.mp4")
    assert event["decision"] == f"event {wrong} was not Ada"
    assert store.person("Ada").templates == 1, "her templates are untouched"
    before = backend.snapshot()
    with pytest.raises(StoreError, match="not a sighting that named someone"):
        store.not_this_person(wrong)  # corrected already: it names nobody
    with pytest.raises(StoreError, match="not a sighting that named someone"):
        store.not_this_person(event["id"])  # the correction itself
    with pytest.raises(StoreError, match="there is no event"):
        store.not_this_person(10_000)
    assert backend.snapshot() == before


def test_every_event_records_the_station_that_logged_it(open_test_store: Callable[..., GalleryStore]) -> None:
    door, desk, unnamed = open_test_store(station="door"), open_test_store(station="front desk"), open_test_store()
    pid = door.enroll("Alice", encodings(1), MODEL)
    desk.log_event("verify", person_id=pid, decision="accepted", distance=0.3)
    unnamed.log_event("identify", decision="unknown")
    assert [(e["kind"], e["station"]) for e in door.events()] == [
        ("identify", None), ("verify", "front desk"), ("enroll", "door")]


# -- the whole database: schema versions, and moving a gallery between stores --------------


def test_a_store_says_which_schema_it_found_and_reopening_an_up_to_date_one_changes_nothing(
    open_test_store: Callable[..., GalleryStore],
) -> None:
    found, now = open_test_store().schema_versions
    assert now >= found and now >= 1
    assert open_test_store().schema_versions == (now, now)


def test_a_gallery_moves_row_for_row_to_an_empty_sqlite_store_and_back(
    store: GalleryStore, open_test_store: Callable[..., GalleryStore], tmp_path: Path
) -> None:
    alice = store.enroll("Zoë", encodings(2), MODEL, sources=["a.jpg", None], qualities=[0.9, None],
                         crops=[b"crop", None], thumbnail=b"thumb")
    store.enroll("Bob", encodings(1, dim=64, seed=1), "old-model")
    store.log_event("verify", person_id=alice, decision="accepted", distance=0.25, source="cam")
    store.log_event("identify", decision="unknown", distance=float("inf"))
    stranger = encodings(2, seed=7)
    door = store.remember_unknown(MODEL, stranger[0], crop=b"stranger", source="door", at="2026-12-01T10:00:00.000+00:00")
    store.remember_unknown(MODEL, stranger[1], group_id=door, at="2026-12-01T10:05:00.000+00:00")

    def pages(source: GalleryStore, limit: int = 1):  # one row a page: paging is exercised too
        for table in TRANSFER_COLUMNS:
            after = 0
            while rows := source.export_rows(table, after, limit):
                yield table, rows
                after = rows[-1][0]

    everything = {t: [row for table, rows in pages(store) if table == t for row in rows] for t in TRANSFER_COLUMNS}
    assert store.counts() == {"people": 2, "templates": 3, "events": 4, "unknown_groups": 1, "unknown_sightings": 2}
    assert everything["templates"][0][4] == encodings(2)[0].tobytes() and everything["people"][0][4] == b"thumb"
    assert everything["unknown_sightings"][0][7:] == (stranger[0].tobytes(), b"stranger")  # opened, as every row travels

    with open_store(tmp_path / "copy.db") as copy:
        assert copy.import_rows(pages(store)) == store.counts()
        assert {t: copy.export_rows(t, limit=100) for t in everything} == everything
        with pytest.raises(StoreError, match="already; copy into a new, empty database"):
            copy.import_rows(pages(store))
        assert copy.counts() == store.counts()
        # And back, into an empty store of this backend: the same rows again, ids and all.
        back = open_test_store()
        for person in back.people():
            back.delete(person.name)
        back.purge_events(datetime(9999, 1, 1))
        back.purge_unknowns(datetime(9999, 1, 1))
        assert back.import_rows(pages(copy)) == copy.counts()
    assert {t: back.export_rows(t, limit=100) for t in everything} == everything
    carol = back.enroll("Carol", encodings(1, seed=5), MODEL)  # ids go on after the copied ones
    assert carol > max(row[0] for row in everything["people"])
    assert back.events(limit=1)[0]["id"] > max(row[0] for row in everything["events"])
    assert [(f.source, f.crop) for f in back.unknown_faces(door)] == [("door", b"stranger"), (None, None)]
    assert back.remember_unknown(MODEL, encodings(1, seed=9)[0]) > door
    with pytest.raises(StoreError, match=r"holds 3 people, \d+ templates, \d+ events, 2 unknown groups, 3 unknown sightings already"):
        back.import_rows(pages(copy))


def test_a_failed_import_leaves_the_store_empty(store: GalleryStore) -> None:
    people = [(1, "Alice", "alice", "2024-01-01T00:00:00.000+00:00", None)]
    orphan = [(7, 99, MODEL, DIM, encodings(1)[0].tobytes(), None, None, "2024-01-01T00:00:00.000+00:00", None)]
    with pytest.raises(StoreError):
        store.import_rows([("people", people), ("templates", orphan)])  # person 99 does not exist
    assert store.counts() == {"people": 0, "templates": 0, "events": 0, "unknown_groups": 0, "unknown_sightings": 0}
    with pytest.raises(ValueError, match="table must be one of"):
        store.export_rows("sqlite_master")


def test_events_queued_while_offline_are_written_once_with_their_own_time(open_test_store: Callable[..., GalleryStore]
                                                                          ) -> None:
    store = open_test_store(station="north door")
    alice = store.enroll("Alice", encodings(1), MODEL)
    queued = [
        QueuedEvent("uid-1", "2030-01-02T03:04:05.678+00:00", "identify", person_id=alice, decision="recognised",
                    distance=0.3, source="cam 0"),
        QueuedEvent("uid-2", "2030-01-02T03:04:06.000+00:00", "identify", name="alice", distance=float("inf")),
        QueuedEvent("uid-3", "2030-01-02T03:04:07.000+00:00", "identify", decision="unknown"),
    ]
    assert store.log_events(queued) == 3
    assert store.log_events(queued[1:]) == 0  # a retry after a lost reply: nothing twice
    events = store.events(limit=3)
    assert [(e["at"], e["name"], e["person_id"], e["distance"], e["station"]) for e in events] == [
        ("2030-01-02T03:04:07.000+00:00", None, None, None, "north door"),
        ("2030-01-02T03:04:06.000+00:00", "alice", alice, None, "north door"),
        ("2030-01-02T03:04:05.678+00:00", "Alice", alice, 0.3, "north door"),
    ]
    with pytest.raises(ValueError):
        store.log_events([QueuedEvent("uid-4", "2030-01-02T03:04:07.000+00:00", "delete")])
    assert store.counts()["events"] == 4


# -- remembered unknown faces -------------------------------------------------------------


def test_unknown_sightings_group_list_give_back_their_faces_and_are_forgotten(store: GalleryStore) -> None:
    rows = encodings(3, seed=7)
    first = store.remember_unknown(MODEL, rows[0], crop=b"crop-0", source="door", at="2026-12-01T10:00:00.000+00:00")
    assert store.remember_unknown(MODEL, rows[1], source="desk", group_id=first,
                                  at="2026-12-01T10:32:00.000+00:00") == first
    other = store.remember_unknown(MODEL, rows[2], crop=b"crop-2", source="door")
    assert other != first
    groups = {g.id: g for g in store.unknown_groups()}
    assert (groups[first].sightings, groups[first].sources) == (2, ("door", "desk"))
    assert groups[first].first_seen.startswith("2026-12-01T10:00") and groups[first].last_seen.startswith("2026-12-01T10:32")
    ids, kept = store.unknown_encodings(MODEL)
    assert sorted(ids.tolist()) == sorted([first, first, other]) and np.allclose(kept[ids == other][0], rows[2], atol=1e-6)
    assert store.unknown_encodings("another-model")[0].size == 0
    faces = store.unknown_faces(first)
    assert [f.crop for f in faces] == [b"crop-0", None] and np.frombuffer(faces[0].encoding, "<f4").tolist() == \
        rows[0].astype("<f4").tolist()
    assert store.forget_unknown(first) == 2
    assert [g.id for g in store.unknown_groups()] == [other]
    for bad in (lambda: store.forget_unknown(first), lambda: store.unknown_faces(first),
                lambda: store.remember_unknown(MODEL, rows[0], group_id=first)):
        with pytest.raises(StoreError, match=f"no unknown {first}"):
            bad()


def test_a_forgotten_unknown_groups_id_is_never_given_again(store: GalleryStore) -> None:
    # 'unknowns name 2 ...' read from an earlier list must not name a newer stranger.
    rows = encodings(4, seed=9)
    first, newest = (store.remember_unknown(MODEL, r) for r in rows[:2])
    assert store.forget_unknown(newest) == 1
    later = store.remember_unknown(MODEL, rows[2])
    assert later > newest > first
    store.forget_unknown(later)
    store.forget_unknown(first)  # none left at all
    assert store.remember_unknown(MODEL, rows[3]) > later


def test_the_unknowns_purge_erases_old_sightings_and_groups_left_empty(store: GalleryStore) -> None:
    rows = encodings(3, seed=8)
    old = store.remember_unknown(MODEL, rows[0], at="2026-10-01T00:00:00.000+00:00")
    mixed = store.remember_unknown(MODEL, rows[1], at="2026-10-01T00:00:00.000+00:00")
    store.remember_unknown(MODEL, rows[2], group_id=mixed, at="2026-11-20T00:00:00.000+00:00")
    assert store.purge_unknowns(datetime(2026, 11, 1)) == 2
    assert [(g.id, g.sightings) for g in store.unknown_groups()] == [(mixed, 1)]
    assert old not in {int(i) for i in store.unknown_encodings(MODEL)[0]}
