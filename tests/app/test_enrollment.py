"""The one live shot-capture rule (``ShotCapture``), used by ``faceapp enroll --camera`` and the
window's enroll wizard alike."""

from __future__ import annotations

import numpy as np

from faceapp.app.enrollment import MANY_FACES_HINT, NO_FACE_HINT, ShotCapture
from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match


def _face(size: float = 150.0, sharp: bool = True) -> FaceResult:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) if sharp else np.full((112, 112, 3), 128, np.uint8)
    landmarks = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    encoding = np.zeros(8, np.float32)
    encoding[0] = 1
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
