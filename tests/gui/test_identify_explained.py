"""Identify mode explains each face in a tooltip (distance, threshold, runner-up, quality,
track), keeps a tracked face's label steady from frame to frame, and finds the face under the
mouse in the video."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF

from faceapp.decide import Decision, OpenSetRule
from faceapp.follow import FaceFollower, FollowSettings
from faceapp.match import Gallery
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match


def face(match: Match, box=(100, 80, 60, 60)) -> FaceResult:
    return FaceResult(Detection(box, np.zeros((5, 2), np.float32), 0.95), match)


def frame_of(*faces: FaceResult) -> FrameResult:
    return FrameResult(Frame(np.zeros((240, 320, 3), np.uint8), 0, 0.0), faces)


def test_each_label_carries_why_in_its_tooltip(qapp) -> None:
    from faceapp.gui.identify_panel import identify_labels

    named = Decision("Alice", 0.61, True, 1, threshold=0.99, runner_up="Bob", runner_up_distance=0.9, quality=0.72,
                     track=3, evidence=4)
    blurred = Decision(None, 1.3, False, None, threshold=0.99, quality=0.1, reason="quality", track=4, evidence=0)
    plain = Match(None, math.inf, False)  # nobody to compare with: no explanation beyond the distance
    alice, unclear, nobody = identify_labels(frame_of(face(named), face(blurred), face(plain)))
    assert alice.text.endswith("Alice 0.610") and alice.status == "ok"
    assert alice.tooltip.splitlines() == ["distance 0.610 (threshold 0.990)", "runner-up: Bob 0.900",
                                          "quality 0.72", "track 3, 4 frames of evidence"]
    assert unclear.status == "unknown" and unclear.tooltip.splitlines()[-1].startswith("the face is too small")
    assert nobody.tooltip == "distance -"


def test_the_view_finds_the_face_under_the_mouse(qapp) -> None:
    from faceapp.gui.video_view import FaceLabel, VideoView

    view = VideoView()
    view.resize(640, 480)  # twice the frame's size: the frame is drawn scaled by 2
    view.show_frame(np.zeros((240, 320, 3), np.uint8), [FaceLabel((100, 80, 60, 60), "Alice", "ok", "why")])
    assert view.label_at(QPointF(2 * 130, 2 * 110)).tooltip == "why"
    assert view.label_at(QPointF(2 * 50, 2 * 50)) is None
    view.clear()
    assert view.label_at(QPointF(2 * 130, 2 * 110)) is None


def test_a_tracked_face_keeps_its_label_from_frame_to_frame(qapp, gui_pipeline, good_photos) -> None:
    """The label shows the track's decision, made on its evidence: the same name in every frame,
    and between the face's scheduled re-encodings the very same text."""
    from conftest import letterbox
    from faceapp.gui.identify_panel import identify_labels
    from faceapp.images import load_image

    encoding = gui_pipeline.encode_one(load_image(good_photos["person-e-want"][0])).encoding
    gallery = Gallery(encoding[None, :], np.array([1]), {1: "E"}, gui_pipeline.model_id)
    settings = FollowSettings(warmup=2, reencode_every=10)
    follower = FaceFollower(gui_pipeline, OpenSetRule(cap=gui_pipeline.encoder.card.default_threshold), settings)
    image = letterbox(load_image(good_photos["person-e-hungry"][0]), (640, 480))
    labels = [identify_labels(follower.process(Frame(image, index, index / 10), gallery)) for index in range(6)]
    assert all(len(frame) == 1 and " E " in frame[0].text for frame in labels)
    assert len({frame[0].text for frame in labels[settings.warmup:]}) == 1
    assert labels[-1][0].tooltip.splitlines()[-1] == f"track 1, {settings.warmup} frames of evidence"
