"""The one live shot-capture rule (``ShotCapture``), used by ``faceapp enroll --camera`` and the
window's enroll wizard alike."""

from __future__ import annotations

import itertools

import numpy as np

from faceapp.app.enrollment import MANY_FACES_HINT, NO_FACE_HINT, ShotCapture
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match


_VIEWS = itertools.count()


def _face(size: float = 150.0, sharp: bool = True, encoding: np.ndarray | None = None) -> FaceResult:
    """A good face; each one a slightly different view (its own encoding) unless ``encoding`` is given."""
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) if sharp else np.full((112, 112, 3), 128, np.uint8)
    landmarks = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    if encoding is None:
        encoding = np.zeros(8, np.float32)
        encoding[0], encoding[1] = 1.0, 0.01 * next(_VIEWS)
        encoding /= np.linalg.norm(encoding)
    return FaceResult(Detection((10, 10, size, size), landmarks, 0.9), Match(None, float("inf"), False), crop, encoding)


def _result(*faces: FaceResult, at: float = 0.0, path: str | None = None) -> FrameResult:
    return FrameResult(Frame(np.zeros((480, 640, 3), np.uint8), 0, at, path), faces)


def test_shot_capture_takes_spaced_shots_of_one_good_face() -> None:
    capture = ShotCapture(shots_needed=2, min_interval_s=0.5)
    assert capture.offer(_result()).hints == (NO_FACE_HINT,)
    assert capture.offer(_result(_face(), _face())).hints == (MANY_FACES_HINT,)
    small = capture.offer(_result(_face(size=30)))
    assert small.shot is None and any("closer" in h for h in small.hints)
    blurred = capture.offer(_result(_face(sharp=False)))
    assert blurred.shot is None and any("blurred" in h for h in blurred.hints)
    first = capture.offer(_result(_face(), at=10.0), source="camera 0")
    assert first.shot is not None and first.hints == () and first.shot.source == "camera 0"
    assert capture.offer(_result(_face(), at=10.2)).shot is None  # too soon after the last shot
    assert capture.offer(_result(_face(), at=10.6)).shot is not None
    assert capture.done and len(capture.shots) == 2
    assert capture.offer(_result(_face(), at=11.6)).shot is None  # enough shots
    assert capture.problems[NO_FACE_HINT] == 1 and capture.problems[MANY_FACES_HINT] == 1  # for a final message
    capture.reset()
    assert not capture.done and not capture.shots and not capture.problems


def test_shots_are_spaced_in_the_sources_own_time_and_different_photos_always_differ() -> None:
    """A video file read faster than real time gives the same shots as one played: the spacing is
    measured in its frames' times, never the wall clock's."""
    capture = ShotCapture(shots_needed=3, min_interval_s=0.5)
    assert capture.offer(_result(_face(), at=0.0, path="a.jpg")).shot is not None
    assert capture.offer(_result(_face(), at=0.0, path="b.jpg")).shot is not None  # another photo
    assert capture.offer(_result(_face(), at=0.1, path="b.jpg")).shot is None  # the same photo again, too soon
    assert capture.offer(_result(_face(), at=0.6, path="b.jpg")).shot is not None


def test_the_same_image_again_is_no_new_shot() -> None:
    """A looping folder shows its images again: the same face twice would only weigh twice."""
    capture = ShotCapture(shots_needed=2, min_interval_s=0.5)
    same = _face().encoding
    assert capture.offer(_result(_face(encoding=same), path="a.jpg")).shot is not None
    assert capture.offer(_result(_face(encoding=same), path="b.jpg")).shot is None  # b.jpg is a copy of a.jpg
    assert capture.offer(_result(_face(), path="c.jpg")).shot is not None and capture.done


# --- templates that would poison every later match are refused (faceapp.app.enroll_checks) --------

from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from faceapp.app import Database  # noqa: E402
from faceapp.app.enrollment import (  # noqa: E402
    COVERED_HINT,
    RefusedShotsError,
    Shot,
    import_people,
    photo_shots,
    screen_shots,
    store_shots,
)
from faceapp.images import load_image  # noqa: E402

from conftest import RepoFaces  # noqa: E402


def test_a_covered_or_unclear_face_is_no_shot() -> None:
    capture = ShotCapture(shots_needed=1)
    doubtful = _face()
    doubtful = replace(doubtful, detection=replace(doubtful.detection, score=0.7))  # a hand over the mouth scores low
    step = capture.offer(_result(doubtful))
    assert step.shot is None and COVERED_HINT in step.hints


@pytest.fixture(scope="module")
def shots(shipped_pipeline, repo_faces: RepoFaces) -> dict[str, list[Shot]]:
    """Shots of E's photos, and of the doorway photos as if they had passed the quality check
    (``problems`` emptied), to test the agreement check on their own."""
    def shot(path: Path) -> Shot:
        return Shot.of(shipped_pipeline.encode_one(load_image(path), largest=True), str(path))

    return {"e": [shot(p) for p in repo_faces.e[:4]],
            "doorway": [replace(shot(p), problems=()) for p in repo_faces.others["doorway-1"]]}


def test_photos_too_poor_to_judge_are_refused_with_what_is_wrong(shipped_pipeline, repo_faces: RepoFaces) -> None:
    good, problems = photo_shots(shipped_pipeline, [repo_faces.hungry[0], repo_faces.stranger])
    assert [s.source for s in good] == [str(repo_faces.hungry[0].resolve())]
    (message,) = problems
    assert message.startswith(f"{repo_faces.stranger}: the face is ") and "turned away" in message
    assert "too poor to enroll" in message


def test_a_face_unlike_the_persons_others_is_refused_and_the_rest_kept(shots, shipped_model_card) -> None:
    from faceapp.cohort import Cohort, load_cohort
    from faceapp.embed import read_card

    card = read_card(shipped_model_card)
    threshold, cohort = card.default_threshold, load_cohort(card.cohort.path, card.cohort.sha256, card.cohort.k,
                                                            card.cohort.reference)
    stranger = shots["doorway"][0]
    kept, refused = screen_shots([*shots["e"][:3], stranger], None, threshold, cohort)
    assert kept == shots["e"][:3]
    (message,) = refused
    assert message.startswith(f"{stranger.source}: does not look like the person's other faces (distance ")
    assert screen_shots(shots["e"], None, threshold, cohort) == (shots["e"], [])  # E's own faces agree
    assert screen_shots([*shots["e"], stranger], None, None)[1] == []  # no threshold: no agreement check
    # Two faces with nothing else to go by: no telling which is right, so neither is stored.
    kept, refused = screen_shots([shots["e"][0], stranger], None, threshold, cohort)
    assert kept == [] and len(refused) == 2 and all("do not look like one person" in m for m in refused)
    # ... unless the person's templates already say who they are.
    existing = np.stack([s.encoding for s in shots["e"][1:3]])
    kept, refused = screen_shots([shots["e"][0], stranger], existing, threshold, cohort)
    assert kept == [shots["e"][0]] and len(refused) == 1
    # A crowded face is measured as verify measures it: lengthened, never shortened.
    # (Here every new shot is refused while the person's templates stay: the check ends there.)
    crowded = Cohort(np.stack([s.encoding for s in shots["e"]]), k=2, reference=0.0)  # E's own faces: very crowded
    kept, refused = screen_shots([shots["e"][0], stranger], existing, threshold, crowded)
    assert kept == [] and len(refused) == 2


def test_storing_refuses_every_shot_when_one_is_refused_and_leaves_the_database_as_it_was(
        shots, tmp_path: Path, shipped_model_card) -> None:
    from faceapp.embed import read_card

    threshold = read_card(shipped_model_card).default_threshold
    with Database.open(tmp_path / "faces.db", create=True) as db:
        store_shots(db, "E", shots["e"][:2], "m", threshold=threshold)
        before = (db.person("E").templates, len(db.events()))
        with pytest.raises(RefusedShotsError, match="does not look like the person's other faces.*nothing was enrolled"):
            store_shots(db, "E", [shots["e"][2], shots["doorway"][0]], "m", threshold=threshold)
        poor = replace(shots["doorway"][0], problems=("turned away",))
        with pytest.raises(RefusedShotsError, match="the face is turned away, too poor to enroll"):
            store_shots(db, "E", [poor], "m")  # too poor is refused even without the agreement check
        assert (db.person("E").templates, len(db.events())) == before


def test_an_import_skips_the_photos_unlike_the_folders_others(shipped_pipeline, repo_faces: RepoFaces,
                                                              tmp_path: Path, shipped_model_card) -> None:
    from faceapp.embed import read_card

    folder = tmp_path / "people" / "Person E"
    folder.mkdir(parents=True)
    for photo in [*repo_faces.hungry[:3], repo_faces.stranger]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    threshold = read_card(shipped_model_card).default_threshold
    with Database.open(tmp_path / "faces.db", create=True) as db:
        (step,) = import_people(db, shipped_pipeline, [folder], threshold=threshold)
        assert step.outcome == "enrolled" and step.templates == 3 and step.unusable == 1
        assert any(repo_faces.stranger.name in m and "too poor" in m for m in step.messages)
