"""Unknown faces remembered (faceapp.app.unknowns): grouped online into anonymous people, named
(enrolled) or forgotten, purged after the retention period, and erased without a trace. Real
faces through the shipped detector and encoder, real SQLite files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from faceapp.app.config import resolve_config
from faceapp.app.database import Database
from faceapp.app.enrollment import encode_photo
from faceapp.app.privacy import purge_old_unknowns
from faceapp.app.unknowns import (
    UnknownMemory,
    forget_unknown,
    list_unknowns,
    name_unknown,
    naming_doubt,
    nearest_group,
    remember_face,
)
from faceapp.errors import FaceAppError
from faceapp.images import list_images
from faceapp.match import identify

CELEBA = "datasets/celeba-wild-dev"
STRANGERS = 24  # at least 20 people seen twice, with room for photos the detector misses


@pytest.fixture(scope="module")
def threshold(shipped_model_card: Path) -> float:
    return resolve_config({"db": ":memory:", "model_path": shipped_model_card}, environ={}).require_threshold()


@pytest.fixture
def db(tmp_path: Path) -> Database:
    with Database.open(tmp_path / "faceapp.db", create=True) as opened:
        yield opened


def test_strangers_seen_twice_each_end_up_one_group_each_and_naming_one_makes_them_recognised(
        shared_dir: Path, shipped_pipeline, threshold: float, db: Database) -> None:
    root = shared_dir / CELEBA
    if not root.is_dir():
        pytest.skip(f"{root} is missing (the CelebA faces in ../shared)")
    model_id = shipped_pipeline.model_id
    people: dict[str, list] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        faces = []
        for photo in list_images(folder):
            try:
                faces.append(encode_photo(shipped_pipeline, photo))
            except FaceAppError:
                continue
            if len(faces) == 3:
                break
        if len(faces) == 3:
            people[folder.name] = faces
        if len(people) == STRANGERS:
            break
    assert len(people) >= 20, f"only {len(people)} people with three usable photos in {root}"
    group_of: dict[str, list[int]] = {who: [] for who in people}
    for round_ in (0, 1):  # everyone once, then everyone again: a face seen again joins its group
        for who, faces in people.items():
            group_of[who].append(remember_face(db, model_id, faces[round_].encoding, threshold, faces[round_].crop, who,
                                              shipped_pipeline.cohort))
    together = sum(a == b for a, b in group_of.values())
    owners: dict[int, set[str]] = {}
    for who, groups in group_of.items():
        for group in groups:
            owners.setdefault(group, set()).add(who)
    print(f"{together} of {len(people)} strangers seen twice are one group each; "
          f"{len(list_unknowns(db))} groups")
    assert [g for g, who in owners.items() if len(who) > 1] == []  # no group mixes two people
    assert together > len(people) / 2  # most of them
    # Naming a group enrolls its faces: that person's next photo is recognised.
    who = next(w for w, (a, b) in group_of.items() if a == b)
    named = name_unknown(db, group_of[who][0], "Named Stranger", model_id)
    assert (named.name, named.faces, named.new_person) == ("Named Stranger", 2, True)
    match = identify(people[who][2].encoding, db.gallery(model_id, shipped_pipeline.cohort), threshold)
    assert match.accepted and match.name == "Named Stranger"
    assert group_of[who][0] not in {g.id for g in list_unknowns(db)}


def test_naming_adds_to_an_existing_person_and_forgetting_erases_the_group(
        repo_faces, shipped_pipeline, threshold: float, db: Database) -> None:
    model_id = shipped_pipeline.model_id
    first, second, later = (encode_photo(shipped_pipeline, p) for p in (repo_faces.hungry[0], repo_faces.want[0],
                                                                        repo_faces.want[1]))
    db.store.enroll("Person E", first.encoding, model_id)
    cohort = shipped_pipeline.cohort
    group = remember_face(db, model_id, second.encoding, threshold, second.crop, "door", cohort)
    assert remember_face(db, model_id, later.encoding, threshold, later.crop, "desk", cohort) == group
    assert naming_doubt(db, group, "person e", model_id, threshold, cohort) is None  # E's faces: no doubt
    named = name_unknown(db, group, "person e", model_id)
    assert (named.name, named.faces, named.new_person) == ("Person E", 2, False)
    assert db.person("Person E").templates == 3 and list_unknowns(db) == []
    again = remember_face(db, model_id, later.encoding, threshold, later.crop, "desk")
    assert forget_unknown(db, again) == 1 and list_unknowns(db) == []
    with pytest.raises(FaceAppError, match=f"no unknown {again}"):
        name_unknown(db, again, "Someone", model_id)


def test_a_crowded_face_joins_a_group_only_by_the_distance_the_threshold_means(db: Database) -> None:
    from faceapp.cohort import Cohort

    rng = np.random.default_rng(11)
    hub = rng.standard_normal(16)
    hub /= np.linalg.norm(hub)
    bunched = hub + 0.3 * rng.standard_normal((50, 16))
    cohort = Cohort(bunched / np.linalg.norm(bunched, axis=1, keepdims=True), k=10, reference=0.3)
    first = db.store.remember_unknown("m", hub.astype(np.float32))
    other = rng.standard_normal(16)
    other -= other.dot(hub) * hub
    near = np.cos(0.6) * hub + np.sin(0.6) * other / np.linalg.norm(other)  # 0.59 from the group, also crowded
    assert cohort.crowding(near[None])[0] > cohort.reference
    assert nearest_group(db, "m", near, 0.65) == first  # by plain distance: the same stranger
    assert nearest_group(db, "m", near, 0.65, cohort) is None  # crowded: it must come nearer
    assert remember_face(db, "m", near, 0.65, cohort=cohort) != first  # so it starts a group of its own


def test_the_retention_purge_erases_unknowns_older_than_the_period(db: Database) -> None:
    rows = np.eye(4, dtype=np.float32)
    now = datetime.now(timezone.utc)
    old = db.store.remember_unknown("m", rows[0], at=(now - timedelta(days=31)).isoformat(timespec="milliseconds"))
    recent = db.store.remember_unknown("m", rows[1], at=(now - timedelta(days=29)).isoformat(timespec="milliseconds"))
    assert purge_old_unknowns(db, 0) == 0 and len(list_unknowns(db)) == 2  # 0 days: kept
    assert purge_old_unknowns(db, 30) == 1
    assert [g.id for g in list_unknowns(db)] == [recent] and old != recent


def test_a_track_that_stays_unknown_is_remembered_once_with_its_best_face(
        repo_faces, shipped_pipeline, threshold: float, db: Database) -> None:
    from faceapp.track import TrackSummary
    from faceapp.types import FaceResult, Frame, FrameResult

    model_id = shipped_pipeline.model_id
    faces = [encode_photo(shipped_pipeline, p) for p in repo_faces.hungry[:3]]
    memory = UnknownMemory(db, model_id, threshold, shipped_pipeline.cohort)

    class Stranger:  # a Decision as faceapp.decide makes it for a face of track 4 that stays Unknown
        accepted, name, person_id, distance, reason, track = False, None, None, 1.3, "too far", 4

    for i, face in enumerate(faces):
        frame = Frame(np.zeros((8, 8, 3), np.uint8), i, i / 25, None)
        result = FrameResult(frame, (FaceResult(face.detection, Stranger(), face.crop, face.encoding),))
        memory.offer(result, "door camera", photo=False)
    assert list_unknowns(db) == []  # not before the track ends
    memory.tracks_ended([TrackSummary(4, 0, 2, 0.0, 0.08, None, None, 3, 1.3)])
    (group,) = list_unknowns(db)
    assert (group.sightings, group.sources) == (1, ("door camera",))
    best = max(faces, key=lambda f: f.detection.score)
    kept = np.frombuffer(db.store.unknown_faces(group.id)[0].encoding, "<f4")
    assert np.allclose(kept, best.encoding, atol=1e-6)


def test_forgetting_an_unknown_leaves_no_byte_of_its_encodings_or_crops(
        repo_faces, shipped_pipeline, threshold: float, tmp_path: Path) -> None:
    from faceapp.images import encode_lossless

    path = tmp_path / "faceapp.db"
    model_id = shipped_pipeline.model_id
    gone, kept = (encode_photo(shipped_pipeline, p) for p in (repo_faces.hungry[0], repo_faces.stranger))
    with Database.open(path, create=True) as db:
        group = remember_face(db, model_id, gone.encoding, threshold, gone.crop, "door")
        remember_face(db, model_id, gone.encoding, threshold, gone.crop[:, ::-1].copy(), "door")
        other = db.store.remember_unknown(model_id, kept.encoding, crop=encode_lossless(kept.crop), source="desk")
        crops = [encode_lossless(gone.crop), encode_lossless(gone.crop[:, ::-1].copy())]
        needles = {"encoding": gone.encoding.astype("<f4").tobytes()[64:192],
                   **{f"crop {i}": c[len(c) // 2: len(c) // 2 + 64] for i, c in enumerate(crops)}}

        def found() -> list[str]:
            files = [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
            return [what for what, needle in needles.items() if any(needle in data for data in files)]

        db.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert found() == list(needles)  # the scan sees them while they are kept
        assert forget_unknown(db, group) == 2
        assert found() == [] and [g.id for g in list_unknowns(db)] == [other]


def test_naming_a_group_after_someone_it_does_not_look_like_raises_a_doubt(db: Database) -> None:
    rng = np.random.default_rng(3)
    alice, stranger = (v / np.linalg.norm(v) for v in rng.standard_normal((2, 16)).astype(np.float32))
    db.store.enroll("Alice", alice[None], "m")
    group = db.store.remember_unknown("m", stranger)
    gap = float(np.linalg.norm(alice - stranger))  # about 1.4 for two random directions
    doubt = naming_doubt(db, group, "alice", "m", threshold=1.0)
    assert doubt == (f"unknown {group}'s faces lie at {gap:.3f} from Alice's, beyond the 1:1 threshold 1.000: "
                     "they may be someone else")
    assert naming_doubt(db, group, "alice", "m", threshold=gap + 0.01) is None
    assert naming_doubt(db, group, "Someone New", "m", threshold=1.0) is None  # a new person: nothing to compare

