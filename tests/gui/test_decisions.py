"""The GUI's Qt-free state logic: sighting log, enroll capture, fps (the verify rule: tests/test_verification.py)."""

from __future__ import annotations

import numpy as np
import pytest

from faceapp.gui.decisions import (
    MANY_FACES_HINT,
    NO_FACE_HINT,
    EnrollCapture,
    FpsMeter,
    SightingLogger,
)
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
