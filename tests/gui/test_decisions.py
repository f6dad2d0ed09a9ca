"""The GUI's Qt-free state logic: verify decisions and lockout, sighting log, enroll capture, fps."""

from __future__ import annotations

import numpy as np
import pytest

from faceapp.gui.decisions import (
    MANY_FACES_HINT,
    NO_FACE_HINT,
    EnrollCapture,
    FpsMeter,
    SightingLogger,
    VerifyDecider,
)
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


T = 0.5  # a threshold; distances below are "same person" votes


def feed(decider: VerifyDecider, distances):
    outcome = None
    for d in distances:
        outcome = decider.add(d, T)
        if outcome is not None:
            return outcome
    return outcome


def test_verify_accepts_after_enough_consistent_frames() -> None:
    decider = VerifyDecider(window=7, needed=5, clock=Clock())
    assert decider.start("Alice", 1)
    assert feed(decider, [0.2, 0.3, 0.9, 0.1]) is None  # 3 yes, 1 no: undecided
    assert decider.progress() == (3, 5)
    outcome = feed(decider, [None, None, 0.25, 0.3])  # frames without a face do not count
    assert outcome is not None and outcome.accepted and outcome.consistent
    assert outcome.claim == "Alice" and outcome.person_id == 1
    assert outcome.distance == pytest.approx(0.25)  # median of the agreeing frames
    assert outcome.frames == 6 and outcome.decision == "accepted"
    assert not decider.active and decider.add(0.1, T) is None  # attempt over


def test_verify_rejects_and_locks_out_after_repeated_rejections() -> None:
    clock = Clock()
    decider = VerifyDecider(window=7, needed=5, max_rejections=3, lockout_s=30, clock=clock)
    for attempt in range(1, 4):
        assert decider.start("Alice", 1)
        outcome = feed(decider, [0.9] * 5)
        assert outcome is not None and not outcome.accepted
        if attempt < 3:
            assert outcome.lockout_s == 0 and decider.locked_for() == 0
    assert outcome.lockout_s == 30 and "locked out for 30 s" in outcome.decision
    assert decider.locked_for() == pytest.approx(30)
    assert not decider.start("Alice", 1)  # refused while locked
    clock.now += 29
    assert not decider.start("Alice", 1)
    clock.now += 1.5
    assert decider.locked_for() == 0 and decider.start("Alice", 1)


def test_verify_acceptance_resets_rejection_count() -> None:
    decider = VerifyDecider(window=3, needed=2, max_rejections=2, lockout_s=10, clock=Clock())
    decider.start("A", 1)
    assert not feed(decider, [0.9, 0.9]).accepted
    decider.start("A", 1)
    assert feed(decider, [0.1, 0.1]).accepted
    decider.start("A", 1)
    assert feed(decider, [0.9, 0.9]).lockout_s == 0  # only one rejection in a row


def test_verify_inconsistent_frames_end_as_rejection() -> None:
    decider = VerifyDecider(window=7, needed=5, max_frames=10, clock=Clock())
    decider.start("A", 1)
    outcome = feed(decider, [0.1, 0.9] * 10)
    assert outcome is not None and not outcome.accepted and not outcome.consistent
    assert outcome.frames == 10 and "inconsistent" in outcome.decision


def test_verify_needs_a_started_attempt_and_valid_parameters() -> None:
    decider = VerifyDecider()
    assert decider.add(0.1, T) is None
    with pytest.raises(ValueError):
        VerifyDecider(window=3, needed=4)
    decider.start("A", 1)
    decider.cancel()
    assert not decider.active and decider.claim is None


def test_sighting_logger_logs_once_per_interval() -> None:
    clock = Clock()
    logger = SightingLogger(60, clock)
    assert logger.due(1) and not logger.due(1)
    assert logger.due(2)
    clock.now += 59
    assert not logger.due(1)
    clock.now += 1
    assert logger.due(1) and not logger.due(1)
    logger.forget(1)
    assert logger.due(1)
    assert logger.due(2) and not logger.due(2)
    logger.keep_only({2})  # person 1 was deleted
    assert logger.due(1) and not logger.due(2)


def _face(size: float = 150.0, sharp: bool = True) -> FaceResult:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) if sharp else np.full((112, 112, 3), 128, np.uint8)
    landmarks = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    encoding = np.zeros(8, np.float32)
    encoding[0] = 1
    return FaceResult(Detection((10, 10, size, size), landmarks, 0.9), Match(None, float("inf"), False), crop, encoding)


def _result(*faces: FaceResult) -> FrameResult:
    return FrameResult(Frame(np.zeros((480, 640, 3), np.uint8), 0, 0.0), faces)


def test_enroll_capture_takes_spaced_shots_of_one_good_face() -> None:
    clock = Clock()
    capture = EnrollCapture(shots_needed=2, min_interval_s=0.5, clock=clock)
    assert capture.offer(_result()).hints == (NO_FACE_HINT,)
    assert capture.offer(_result(_face(), _face())).hints == (MANY_FACES_HINT,)
    small = capture.offer(_result(_face(size=30)))
    assert small.shot is None and any("closer" in h for h in small.hints)
    blurred = capture.offer(_result(_face(sharp=False)))
    assert blurred.shot is None and any("blurred" in h for h in blurred.hints)
    first = capture.offer(_result(_face()), source="camera 0")
    assert first.shot is not None and first.hints == () and first.shot.source == "camera 0"
    assert capture.offer(_result(_face())).shot is None  # too soon after the last shot
    clock.now += 0.6
    assert capture.offer(_result(_face())).shot is not None
    assert capture.done and len(capture.shots) == 2
    clock.now += 1
    assert capture.offer(_result(_face())).shot is None  # enough shots
    capture.reset()
    assert not capture.done and not capture.shots


def test_fps_meter() -> None:
    clock = Clock()
    meter = FpsMeter(span_s=2.0, clock=clock)
    assert meter.tick() == 0.0
    for _ in range(10):
        clock.now += 0.1
        meter.tick()
    assert meter.fps() == pytest.approx(10.0)
    clock.now += 5
    assert meter.tick() == 0.0  # old ticks fell out of the window
