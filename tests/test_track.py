"""Tracking (``faceapp.track``) and the frame-by-frame follower (``faceapp.follow``) on real
faces: an in-repo photo of E walking across a frame, with a hand over his face for a few
frames, and, where ``../shared`` is here, E's webcam clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceapp.camera import open_source
from faceapp.decide import JudgeLimits, OpenSetRule
from faceapp.follow import FaceFollower, FollowSettings
from faceapp.images import load_image
from faceapp.match import Gallery
from faceapp.quality import FaceQuality
from faceapp.track import MAX_MOVE, SWITCH_AFTER, FaceTracker, Track, movement_costs
from faceapp.types import Detection

from conftest import RepoFaces, moving_face_video, shared_path

GOOD = FaceQuality(size=80, sharpness=60, yaw=0.0, score=0.95)
FRAMES = 20
COVERED = (8, 9, 10)  # a hand over the face: the detector loses it for three frames


def box_detection(x: float, y: float = 100, side: float = 64) -> Detection:
    return Detection((x, y, side, side), np.zeros((5, 2), np.float32), 0.95)


def unit(vector) -> np.ndarray:
    v = np.asarray(vector, np.float32)
    return v / np.linalg.norm(v)


def test_a_face_is_followed_while_it_moves_and_a_face_elsewhere_starts_its_own_track() -> None:
    tracker = FaceTracker(max_missed=2)
    (first,), _ = tracker.assign([box_detection(100)], 0, 0.0)
    # it moved half a face width; another face appears far away
    tracks, ended = tracker.assign([box_detection(500), box_detection(132)], 1, 0.1)
    assert tracks[1] is first and tracks[0].id != first.id and not ended
    assert first.last_frame == 1 and first.detection.box[0] == 132


def test_a_track_survives_missed_frames_and_ends_after_too_many() -> None:
    tracker = FaceTracker(max_missed=2)
    (track,), _ = tracker.assign([box_detection(100)], 0, 0.0)
    for frame in (1, 2):  # a hand across the face: two frames without it
        assert tracker.assign([], frame, frame / 10) == ([], [])
    # it walked on meanwhile: more than MAX_MOVE face widths, allowed for the frames it was missed
    (again,), _ = tracker.assign([box_detection(100 + 64 * MAX_MOVE * 2)], 3, 0.3)
    assert again is track and track.missed == 0
    for frame in (4, 5):
        assert tracker.assign([], frame, 0.5)[1] == []
    _, ended = tracker.assign([], 6, 0.6)
    assert ended == [track] and tracker.tracks == []
    (new,), _ = tracker.assign([box_detection(100)], 7, 0.7)
    assert new.id != track.id


def test_boxes_too_far_apart_or_too_different_in_size_cannot_be_one_track() -> None:
    track = Track(1, box_detection(100), 0, 0.0)
    costs = movement_costs([track], [box_detection(100 + 64 * MAX_MOVE * 1.5), box_detection(110, side=200),
                                     box_detection(116)])
    assert costs[0, 0] >= 1e6 and costs[0, 1] >= 1e6
    assert costs[0, 2] == pytest.approx(16 / 64)


def test_evidence_is_a_quality_weighted_mean_that_leaves_out_outliers_and_sees_a_switch() -> None:
    track = Track(1, box_detection(100), 0, 0.0)
    a, b = unit([1, 0.1, 0]), unit([1, -0.1, 0])
    low = FaceQuality(size=40, sharpness=30, yaw=0.0, score=0.95)
    assert track.add(a, GOOD, 0, JudgeLimits()) == "added"
    assert track.add(b, low, 1, JudgeLimits()) == "added"
    expected = unit(a * GOOD.value + b * low.value)
    assert np.allclose(track.mean, expected, atol=1e-6) and track.evidence == 2
    poor = FaceQuality(size=10, sharpness=60, yaw=0.0, score=0.95)
    assert track.add(unit([0, 0, 1]), poor, 2, JudgeLimits()) == "poor" and track.evidence == 2
    stranger = unit([-1, 0, 0.2])
    outcomes = [track.add(stranger, GOOD, 3 + i, JudgeLimits()) for i in range(SWITCH_AFTER)]
    assert outcomes == ["outlier"] * (SWITCH_AFTER - 1) + ["switch"]
    assert np.allclose(track.mean, expected, atol=1e-6)  # the outliers added nothing


def test_a_track_asks_for_encodings_while_new_then_every_few_frames_or_for_a_better_view() -> None:
    track = Track(1, box_detection(100), 0, 0.0)
    assert track.wants_encoding(0, GOOD, warmup=2, reencode_every=5)
    for frame in (0, 1):
        track.add(unit([1, 0, 0]), GOOD, frame, JudgeLimits())
    assert not track.wants_encoding(2, GOOD, warmup=2, reencode_every=5)
    assert track.wants_encoding(6, GOOD, warmup=2, reencode_every=5)
    better = FaceQuality(size=200, sharpness=200, yaw=0.0, score=0.99)
    assert better.value >= GOOD.value + 0.1 and track.wants_encoding(2, better, warmup=2, reencode_every=5)


@pytest.fixture(scope="module")
def walking_e(repo_faces: RepoFaces, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return moving_face_video(tmp_path_factory.mktemp("walk") / "walk.avi", repo_faces.hungry[0], FRAMES, covered=COVERED)


@pytest.fixture(scope="module")
def e_gallery(shipped_pipeline, repo_faces: RepoFaces) -> Gallery:
    """E enrolled from two photos of the other clip."""
    rows = [shipped_pipeline.encode_one(load_image(p)).encoding for p in repo_faces.want[:2]]
    return Gallery(np.stack(rows), np.array([1, 1]), {1: "E"}, shipped_pipeline.model_id)


def follow(pipeline, video: Path, gallery: Gallery | None, **settings):
    follower = FaceFollower(pipeline, OpenSetRule(cap=pipeline.encoder.card.default_threshold), FollowSettings(**settings))
    with open_source(str(video)) as source:
        results = [follower.process(frame, gallery) for frame in source]
    return results, follower.finish()


def test_a_walking_face_keeps_one_track_and_its_name_through_a_hand_across_it(shipped_pipeline, walking_e, e_gallery) -> None:
    results, ended = follow(shipped_pipeline, walking_e, e_gallery)
    seen = [r for r in results if r.faces]
    assert [r.frame.index for r in results if not r.faces] == list(COVERED)  # the hand hides him from the detector
    assert {f.match.track for r in seen for f in r.faces} == {1}  # one track all the way
    assert all(f.match.name == "E" for r in seen for f in r.faces)
    assert all(r.ended == () for r in results)
    (summary,) = ended
    assert (summary.track, summary.first_frame, summary.last_frame, summary.name) == (1, 0, FRAMES - 1, "E")
    # the speed: the face is encoded while the track is new and then every few frames, not every frame
    encoded = sum(r.encoded for r in results)
    assert summary.evidence == encoded < len(seen) // 2


def test_without_tracking_every_face_is_encoded_and_decided_alone(shipped_pipeline, walking_e, e_gallery) -> None:
    results, ended = follow(shipped_pipeline, walking_e, e_gallery, tracking=False)
    faces = [f for r in results for f in r.faces]
    assert sum(r.encoded for r in results) == len(faces) == FRAMES - len(COVERED)
    assert all(f.match.track is None and f.encoding is not None for f in faces) and ended == []


def test_a_track_ends_when_its_face_is_gone_for_longer_than_allowed(shipped_pipeline, walking_e, e_gallery) -> None:
    results, ended = follow(shipped_pipeline, walking_e, e_gallery, max_missed=2)
    (gone,) = [r for r in results if r.ended]
    assert gone.frame.index == COVERED[-1] and gone.ended[0].track == 1 and gone.ended[0].name == "E"
    after = {f.match.track for r in results[COVERED[-1] + 1 :] for f in r.faces}
    assert after == {2} and ended[0].track == 2


def test_a_stranger_stays_unknown_and_nobody_enrolled_names_nobody(shipped_pipeline, walking_e, repo_faces) -> None:
    doorway = np.stack([shipped_pipeline.encode_one(load_image(p), largest=True).encoding
                        for p in repo_faces.others["doorway-1"]])
    stranger = Gallery(doorway, np.ones(len(doorway), np.int64), {1: "Doorway"}, shipped_pipeline.model_id)
    results, _ = follow(shipped_pipeline, walking_e, stranger)
    faces = [f.match for r in results for f in r.faces]
    assert all(m.name is None and m.reason == "too far" and m.distance > m.threshold for m in faces)
    results, _ = follow(shipped_pipeline, walking_e, None)
    assert all(f.match.reason == "nobody enrolled" for r in results for f in r.faces)


def test_e_is_named_in_his_other_clip_and_nobody_else_is(shipped_pipeline, shared_dir: Path, repo_faces) -> None:
    """E enrolled from five frames of one webcam clip (as many shots as live enrollment takes),
    recognised in the other clip where his hands cross his face: his face is one track, named E
    in nearly every frame and never anything else (the clip's first frames, a hand across his
    face, lie at the threshold's edge and may stay Unknown as "too far"); a hand the detector
    takes for a face is a track of its own, too poor to judge, and stays Unknown."""
    clip = shared_path(shared_dir, "videos/person-e-want.mkv", "E's webcam clip")
    rows = [shipped_pipeline.encode_one(load_image(p)).encoding for p in repo_faces.hungry[:5]]
    gallery = Gallery(np.stack(rows), np.ones(5, np.int64), {1: "E"}, shipped_pipeline.model_id)
    results, ended = follow(shipped_pipeline, clip, gallery)
    named = [f.match for r in results for f in r.faces if f.match.name == "E"]
    assert len(named) >= 0.85 * len(results) and len({m.track for m in named}) == 1
    e_track = named[0].track
    in_track = [f.match for r in results for f in r.faces if f.match.track == e_track]
    assert all(m.name == "E" or m.reason == "too far" for m in in_track) and in_track[-1].name == "E"
    # frames whose face was encoded carry the encoder's learned quality; the others were not encoded
    assert 0 < sum(m.learned_quality is not None for m in in_track) < len(in_track)
    others = [f.match for r in results for f in r.faces if f.match.track != e_track]
    assert others and all(m.name is None and m.reason == "quality" for m in others)
    assert sum(r.encoded for r in results) < len(results) // 2
