"""Corrections by hand (faceapp.app.corrections), on real faces: the in-repo photos of person E,
the shipped detector and encoder, and a real SQLite file. A merge or a moved template changes
who the next photo is recognised as, keeps every event, and is logged itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceapp.app import Database
from faceapp.app.corrections import CorrectionError, merge_people, move_template, plan_merge, plan_move
from faceapp.app.enrollment import photo_shots, store_shots
from faceapp.errors import UnknownPersonError
from faceapp.match import identify

from conftest import RepoFaces


@pytest.fixture
def db(tmp_path: Path):
    with Database.open(tmp_path / "faceapp.db", create=True) as database:
        yield database


def enroll(db: Database, pipeline, name: str, photos) -> None:
    shots, problems = photo_shots(pipeline, [Path(p) for p in photos])
    assert not problems, problems
    store_shots(db, name, shots, pipeline.model_id)


def nearest(db: Database, pipeline, photo: Path) -> str | None:
    """Who the gallery's nearest template belongs to, for the photo's face."""
    shots, _ = photo_shots(pipeline, [photo])
    gallery = db.gallery(pipeline.model_id, pipeline.cohort)
    return identify(shots[0].encoding, gallery, threshold=2.0).name


def test_merging_two_entries_of_one_person_keeps_every_event_and_recognises_her_under_one_name(
        db: Database, shipped_pipeline, repo_faces: RepoFaces) -> None:
    enroll(db, shipped_pipeline, "Person E", repo_faces.hungry[:2])
    enroll(db, shipped_pipeline, "E from the door", repo_faces.hungry[2:4])
    db.log_event("identify", name="E from the door", decision="recognised", distance=0.3, source="door")
    plan = plan_merge(db, "e from the door", "person e")
    assert (plan.source, plan.target, plan.source_templates) == ("E from the door", "Person E", 2)
    assert plan.describe().startswith("merge E from the door into Person E")
    before = {e["id"] for e in db.events(limit=100)}
    assert merge_people(db, plan) == (2, 2)
    assert [p.name for p in db.people()] == ["Person E"] and db.person("Person E").templates == 4
    after = db.events(limit=100)
    assert before <= {e["id"] for e in after}, "no event is lost"
    assert all(e["person_id"] == db.person("Person E").id for e in after)
    assert after[0]["kind"] == "correct"
    assert nearest(db, shipped_pipeline, repo_faces.want[0]) == "Person E"


def test_a_merge_of_one_person_into_herself_or_nobody_is_refused_before_anything_changes(
        db: Database, shipped_pipeline, repo_faces: RepoFaces) -> None:
    enroll(db, shipped_pipeline, "Person E", repo_faces.hungry[:1])
    with pytest.raises(CorrectionError, match="one person already"):
        plan_merge(db, "Person E", "PERSON E")
    with pytest.raises(UnknownPersonError):
        plan_merge(db, "Person E", "Nobody")
    assert db.person("Person E").templates == 1 and len(db.events()) == 1


def test_moving_a_face_enrolled_under_the_wrong_name_to_its_owner(
        db: Database, shipped_pipeline, repo_faces: RepoFaces) -> None:
    enroll(db, shipped_pipeline, "Person E", repo_faces.hungry[:2])
    enroll(db, shipped_pipeline, "Somebody Else", repo_faces.hungry[2:3])  # E's face, under a wrong name
    wrong = db.templates("Somebody Else")[0].id
    plan = plan_move(db, "somebody else", wrong, "person e")
    assert plan.describe() == f"move template {wrong} ({repo_faces.hungry[2]}) from Somebody Else to Person E"
    assert move_template(db, plan) == 0
    assert db.person("Somebody Else").templates == 0 and db.thumbnail("Somebody Else") is None
    assert db.person("Person E").templates == 3
    assert nearest(db, shipped_pipeline, repo_faces.hungry[2]) == "Person E"
    assert db.events(limit=1)[0]["decision"] == f"moved template {wrong} from Somebody Else to Person E"
    with pytest.raises(CorrectionError, match="already"):
        plan_move(db, "Person E", wrong, "Person E")
