"""The application layer's database handle and enroll transaction, on a real SQLite file.

Encodings here are random unit vectors and crops random pixels: these tests are about what
is stored and reported, not about faces (tests/test_cli.py enrolls real faces end to end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceapp.app import Database
from faceapp.app.enrollment import Shot, lookalikes, store_shots
from faceapp.errors import FaceAppError, StoreError, UnknownPersonError

DIM = 128
MODEL = "faceapp-encoder-test"


def unit(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return x / np.linalg.norm(x)


def shot(seed: int, quality: float = 0.5, source: str | None = None, encoding: np.ndarray | None = None) -> Shot:
    crop = np.random.default_rng(seed).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    return Shot(crop, unit(seed) if encoding is None else encoding, quality, source or f"photo{seed}.jpg")


@pytest.fixture
def db(tmp_path: Path):
    with Database.open(tmp_path / "faces.db", create=True) as opened:
        yield opened


def test_a_missing_database_is_not_created_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    assert not Database.exists(path)
    with pytest.raises(StoreError, match="no such database"):
        Database.open(path)
    assert not path.exists()


def test_store_shots_enrolls_a_new_person_then_adds_to_them(db: Database) -> None:
    first = store_shots(db, "  Ada   Lovelace ", [shot(1), shot(2, quality=0.9)], MODEL)
    assert (first.name, first.added, first.total, first.new_person) == ("Ada Lovelace", 2, 2, True)
    again = store_shots(db, "ada lovelace", [shot(3)], MODEL)
    assert (again.name, again.added, again.total, again.new_person) == ("Ada Lovelace", 1, 3, False)
    templates = db.templates("Ada Lovelace")
    assert [t.source for t in templates] == ["photo1.jpg", "photo2.jpg", "photo3.jpg"]
    assert all(t.has_crop for t in templates)
    assert db.thumbnail("Ada Lovelace") is not None
    assert [e["kind"] for e in db.events()] == ["enroll", "enroll"]


def test_store_shots_keeps_no_face_image_when_told_not_to(db: Database) -> None:
    store_shots(db, "Bob", [shot(1)], MODEL, keep_thumbnail=False, keep_crops=False)
    assert db.thumbnail("Bob") is None
    assert not db.templates("Bob")[0].has_crop


def test_store_shots_refuses_nothing_and_bad_names_without_writing(db: Database) -> None:
    with pytest.raises(FaceAppError, match="nothing to enroll"):
        store_shots(db, "Bob", [], MODEL)
    with pytest.raises(StoreError):
        store_shots(db, "\u202eBob", [shot(1)], MODEL)
    assert db.people() == []


def test_lookalikes_names_other_people_the_shots_match_but_not_the_person_enrolled(db: Database) -> None:
    store_shots(db, "Ann", [shot(1)], MODEL)
    store_shots(db, "Bob", [shot(2)], MODEL)
    gallery = db.gallery(MODEL, None)
    near_ann = unit(1) + 0.05 * unit(7)
    near_ann /= np.linalg.norm(near_ann)
    shots = [shot(10, encoding=near_ann, source="a.jpg"), shot(11, source="b.jpg"), shot(12, encoding=unit(2), source="c.jpg")]
    found = lookalikes(shots, gallery, threshold=0.5, name="Bob")
    assert [(f.name, f.shots, f.sources) for f in found] == [("Ann", (1,), ("a.jpg",))]
    assert 0 < found[0].distance < 0.5
    assert lookalikes(shots, gallery, threshold=0.01, name="Bob") == []
    assert lookalikes([], gallery, 0.5, "Bob") == [] and lookalikes(shots, None, 0.5, "Bob") == []


def test_rename_answers_the_names_as_stored(db: Database) -> None:
    store_shots(db, "John Bolton", [shot(1)], MODEL)
    assert db.rename("john bolton", "  Johnny  B ") == ("John Bolton", "Johnny B")
    with pytest.raises(UnknownPersonError):
        db.person("John Bolton")


def test_template_lookup_names_the_person_and_how_to_list_theirs(db: Database) -> None:
    store_shots(db, "Ann", [shot(1), shot(2)], MODEL)
    ids = [t.id for t in db.templates("Ann")]
    assert db.template("ann", ids[1]).id == ids[1]
    with pytest.raises(StoreError, match=r"Ann has no template 999; list theirs with 'faceapp people templates \"Ann\"'"):
        db.template("Ann", 999)
    assert db.remove_template("Ann", ids[0]) == 1


def test_stale_report_counts_other_models_templates(db: Database) -> None:
    store_shots(db, "Ann", [shot(1)], "an-older-model")
    store_shots(db, "Bob", [shot(2)], MODEL, keep_crops=False)
    report = db.stale_report(MODEL)
    assert (report.total, report.kept_crop, report.lost, report.by_model) == (1, 1, 0, {"an-older-model": 1})
    assert db.stale_report("an-older-model").lost == 1  # Bob's template kept no crop and names no photo on disk
