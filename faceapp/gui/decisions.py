"""GUI state logic that needs no Qt, so it can be unit-tested on its own (the verify rule,
shared with the CLI, is :mod:`faceapp.verification`).

- :class:`SightingLogger`: "log each person once per interval" for identify mode.
- :class:`EnrollCapture`: the enrollment auto-capture (exactly one face, good quality, spaced shots).
- :class:`FpsMeter`: results per second over a sliding window.

Time comes from an injectable ``clock`` (``time.monotonic`` by default) so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from ..quality import FaceQuality, assess
from ..types import FrameResult, Match
from ..verification import Clock


# --- identify -----------------------------------------------------------------------------


class SightingLogger:
    """Says when a sighting is worth logging: once per key (person) per ``interval_s``."""

    def __init__(self, interval_s: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.interval_s = float(interval_s)
        self._clock = clock
        self._last: dict[Hashable, float] = {}

    def due(self, key: Hashable) -> bool:
        """True (and the key's interval restarts) when ``key`` was not logged in the last interval."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        self._last[key] = now
        return True

    def forget(self, key: Hashable | None = None) -> None:
        if key is None:
            self._last.clear()
        else:
            self._last.pop(key, None)

    def keep_only(self, keys: set) -> None:
        for key in [k for k in self._last if k not in keys]:
            del self._last[key]


# --- enroll -------------------------------------------------------------------------------

NO_FACE_HINT = "no face in view: look at the camera"
MANY_FACES_HINT = "more than one face: only the person enrolling should be in view"


@dataclass(frozen=True)
class Shot:
    """One face kept for enrollment: its aligned crop, encoding and where it came from."""

    crop: np.ndarray
    encoding: np.ndarray
    quality: float  # FaceQuality.value
    source: str | None = None
    match: Match | None = None  # who the face matched in the gallery when captured (identify)


@dataclass(frozen=True)
class CaptureStep:
    """What one frame meant for enrollment: hints to show, the face's quality and a new shot if taken."""

    hints: tuple[str, ...]
    quality: FaceQuality | None = None
    shot: Shot | None = None


class EnrollCapture:
    """Takes ``shots_needed`` shots by itself from frames with exactly one good face.

    A face is good when ``FaceQuality.ok`` (large, sharp, frontal); shots are at least
    ``min_interval_s`` apart so they differ a little. Frames need crops (``keep_crops=True``).
    """

    def __init__(self, shots_needed: int = 5, min_interval_s: float = 0.5, clock: Clock = time.monotonic) -> None:
        if shots_needed < 1:
            raise ValueError("shots_needed must be >= 1")
        self.shots_needed = int(shots_needed)
        self.min_interval_s = float(min_interval_s)
        self._clock = clock
        self._last_shot: float | None = None
        self.shots: list[Shot] = []

    @property
    def done(self) -> bool:
        return len(self.shots) >= self.shots_needed

    def offer(self, result: FrameResult, source: str | None = None) -> CaptureStep:
        faces = result.faces
        if not faces:
            return CaptureStep((NO_FACE_HINT,))
        if len(faces) > 1:
            return CaptureStep((MANY_FACES_HINT,))
        face = faces[0]
        if face.crop is None or face.encoding is None:
            raise ValueError("EnrollCapture needs frames processed with keep_crops=True")
        quality = assess(face.detection, face.crop)
        if not quality.ok:
            return CaptureStep(tuple(quality.problems), quality)
        now = self._clock()
        if self.done or (self._last_shot is not None and now - self._last_shot < self.min_interval_s):
            return CaptureStep((), quality)
        self._last_shot = now
        shot = Shot(face.crop, np.asarray(face.encoding, np.float32), quality.value, source, face.match)
        self.shots.append(shot)
        return CaptureStep((), quality, shot)

    def reset(self) -> None:
        self.shots.clear()
        self._last_shot = None


# --- display ------------------------------------------------------------------------------


class FpsMeter:
    """Frames per second over the last ``span_s`` seconds of ``tick()`` calls."""

    def __init__(self, span_s: float = 2.0, clock: Clock = time.monotonic) -> None:
        self.span_s = float(span_s)
        self._clock = clock
        self._ticks: deque[float] = deque()

    def tick(self) -> float:
        now = self._clock()
        self._ticks.append(now)
        while self._ticks and now - self._ticks[0] > self.span_s:
            self._ticks.popleft()
        return self.fps()

    def fps(self) -> float:
        if len(self._ticks) < 2:
            return 0.0
        elapsed = self._ticks[-1] - self._ticks[0]
        return (len(self._ticks) - 1) / elapsed if elapsed > 0 else 0.0

    def reset(self) -> None:
        self._ticks.clear()
