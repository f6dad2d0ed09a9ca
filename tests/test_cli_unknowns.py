"""``faceapp identify --remember-unknowns`` and ``faceapp unknowns list | name | forget``, end to
end: real in-repo faces, the shipped detector and encoder, a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


from conftest import RepoFaces


@pytest.fixture
def cli(tmp_cli):
    """faceapp's main() on a database of this test's own (tests/conftest.py: tmp_cli)."""
    return tmp_cli


def test_unknown_faces_are_remembered_only_when_asked_then_named_and_recognised(cli, repo_faces: RepoFaces) -> None:
    # A gallery with nobody in it: enroll E, then delete them again.
    assert cli("enroll", "Person E", repo_faces.hungry[0]).code == 0
    assert cli("people", "delete", "Person E", "--yes").code == 0
    assert cli("identify", repo_faces.hungry[1]).code == 0  # the setting is off unless chosen
    assert cli("unknowns", "list").out.strip() == "no unknowns remembered"
    for photo in (repo_faces.hungry[1], repo_faces.want[0], repo_faces.want[1]):
        assert cli("identify", photo, "--remember-unknowns").code == 0
    (group,) = json.loads(cli("unknowns", "list", "--json").out)
    assert group["sightings"] == 3 and group["sources"] == [str(repo_faces.hungry[1]), str(repo_faces.want[0]),
                                                            str(repo_faces.want[1])]
    assert group["first_seen"] <= group["last_seen"]
    listed = cli("unknowns", "list").out
    assert listed.startswith(f"Unknown {group['id']}: seen 3 times")
    named = cli("unknowns", "name", group["id"], "Person E")
    assert named.code == 0 and "enrolled as a new person Person E: 3 faces" in named.out
    answer = json.loads(cli("identify", repo_faces.want[2], "--json").out)
    assert answer["faces"][0]["name"] == "Person E"
    assert json.loads(cli("unknowns", "list", "--json").out) == []


def test_forget_erases_a_group_and_a_bad_id_is_one_line_and_exit_2(cli, repo_faces: RepoFaces) -> None:
    assert cli("enroll", "Person E", repo_faces.hungry[0]).code == 0
    assert cli("people", "delete", "Person E", "--yes").code == 0
    assert cli("identify", repo_faces.want[0], "--remember-unknowns").code == 0
    (group,) = json.loads(cli("unknowns", "list", "--json").out)
    forgot = cli("unknowns", "forget", group["id"])
    assert forgot.code == 0 and forgot.out.strip() == f"forgot unknown {group['id']}: 1 face erased"
    for args in (("forget", group["id"]), ("name", group["id"], "Someone")):
        bad = cli("unknowns", *args)
        assert bad.code == 2 and bad.err.strip() == (f"faceapp: error: there is no unknown {group['id']}; "
                                                     "list them with 'faceapp unknowns list'")
    assert cli("unknowns").code == 2


def test_a_video_remembers_one_face_per_unknown_track_and_a_second_visit_joins_its_group(
        cli, repo_faces: RepoFaces, tmp_path: Path) -> None:
    from conftest import moving_face_video

    video = moving_face_video(tmp_path / "walk.avi", repo_faces.hungry[0], frames=12)
    assert cli("enroll", "Person E", repo_faces.hungry[0]).code == 0
    assert cli("people", "delete", "Person E", "--yes").code == 0
    for visit in (1, 2):
        assert cli("identify", video, "--remember-unknowns").code == 0
        (group,) = json.loads(cli("unknowns", "list", "--json").out)
        assert group["sightings"] == visit and group["sources"] == ["video walk.avi"]


def test_naming_an_unknown_after_someone_it_does_not_look_like_asks_first(cli, tmp_path: Path,
                                                                            shipped_model_card: Path) -> None:
    import numpy as np

    from faceapp.app import Database
    from faceapp.embed import read_card

    card = read_card(shipped_model_card)
    rng = np.random.default_rng(5)
    alice, stranger = (v / np.linalg.norm(v) for v in rng.standard_normal((2, card.dim)).astype(np.float32))
    with Database.open(str(tmp_path / "faceapp.db"), create=True) as db:  # the database tmp_cli runs on
        db.store.enroll("Alice", alice[None], card.model_id)
        group = db.store.remember_unknown(card.model_id, stranger)
    refused = cli("unknowns", "name", group, "Alice")  # no terminal, no --yes
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert f"unknown {group}'s faces lie at" in refused.err and "nothing was added" in refused.err
    assert json.loads(cli("people", "list", "--json").out)[0]["templates"] == 1
    named = cli("unknowns", "name", group, "Alice", "--yes")
    assert named.code == 0 and named.out.strip() == f"unknown {group} added to Alice: 1 face"

