"""GUI state logic that needs no Qt, so it can be unit-tested on its own.

- :class:`VerifyDecider`: a 1:1 decision over several consistent frames, with a lockout after
  repeated rejections.
- :class:`SightingLogger`: "log each person once per interval" for identify mode.
- :class:`EnrollCapture`: the enrollment auto-capture (exactly one face, good quality, spaced shots).
- :class:`FpsMeter`: results per second over a sliding window.

Time comes from an injectable ``clock`` (``time.monotonic`` by default) so tests need no sleeping.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from ..quality import FaceQuality, assess
from ..types import FrameResult, Match

Clock = Callable[[], float]


# --- verify -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOutcome:
    """The end of one verification attempt."""

    claim: str
    person_id: int
    accepted: bool
    distance: float  # median distance of the frames that decided
    threshold: float
    frames: int  # frames with a usable face seen during the attempt
    consistent: bool  # False: the frames never agreed and the attempt ran out of frames
    lockout_s: float = 0.0  # > 0 when this rejection started a lockout

    @property
    def decision(self) -> str:
        """The text stored in the events log."""
        text = "accepted" if self.accepted else "rejected"
        if not self.consistent:
            text += " (inconsistent frames)"
        if self.lockout_s > 0:
            text += f", locked out for {self.lockout_s:g} s"
        return text


class VerifyDecider:
    """Decides a claim from ``needed`` agreeing frames among the last ``window`` frames with a face.

    Frames without a usable face do not count. An attempt that sees ``max_frames`` face frames
    without agreement is rejected as inconsistent. ``max_rejections`` rejections in a row lock
    verification for ``lockout_s`` seconds; an acceptance resets the count.
    """

    def __init__(
        self,
        window: int = 7,
        needed: int = 5,
        max_rejections: int = 3,
        lockout_s: float = 30.0,
        max_frames: int = 30,
        clock: Clock = time.monotonic,
    ) -> None:
        if window < 1 or not 1 <= needed <= window:
            raise ValueError(f"need 1 <= needed <= window, got needed={needed}, window={window}")
        if max_rejections < 1 or lockout_s < 0:
            raise ValueError("max_rejections must be >= 1 and lockout_s >= 0")
        self.window = int(window)
        self.needed = int(needed)
        self.max_rejections = int(max_rejections)
        self.lockout_s = float(lockout_s)
        self.max_frames = max(int(max_frames), self.window)
        self._clock = clock
        self._claim: tuple[str, int] | None = None
        self._votes: deque[tuple[bool, float]] = deque(maxlen=self.window)
        self._frames = 0
        self.rejections = 0  # rejections in a row
        self._locked_until: float | None = None

    @property
    def active(self) -> bool:
        return self._claim is not None

    @property
    def claim(self) -> str | None:
        return None if self._claim is None else self._claim[0]

    def locked_for(self) -> float:
        """Seconds of lockout left; 0 when verification is allowed."""
        if self._locked_until is None:
            return 0.0
        left = self._locked_until - self._clock()
        if left <= 0:
            self._locked_until = None
            return 0.0
        return left

    def start(self, claim: str, person_id: int) -> bool:
        """Begin an attempt for ``claim``; False (and nothing starts) while locked out."""
        if self.locked_for() > 0:
            return False
        self._claim = (claim, int(person_id))
        self._votes.clear()
        self._frames = 0
        return True

    def cancel(self) -> None:
        self._claim = None
        self._votes.clear()
        self._frames = 0

    def progress(self) -> tuple[int, int]:
        """(frames agreeing with the current majority, frames needed)."""
        yes = sum(1 for ok, _ in self._votes if ok)
        return max(yes, len(self._votes) - yes), self.needed

    def add(self, distance: float | None, threshold: float) -> VerifyOutcome | None:
        """Feed one frame's distance to the claimed person (None: no usable face in the frame).

        Returns the outcome when this frame decides the attempt, else None.
        """
        if self._claim is None or distance is None or self.locked_for() > 0:
            return None
        self._votes.append((distance <= threshold, float(distance)))
        self._frames += 1
        yes = [d for ok, d in self._votes if ok]
        no = [d for ok, d in self._votes if not ok]
        if len(yes) >= self.needed:
            return self._finish(True, yes, threshold, consistent=True)
        if len(no) >= self.needed:
            return self._finish(False, no, threshold, consistent=True)
        if self._frames >= self.max_frames:
            return self._finish(False, yes + no, threshold, consistent=False)
        return None

    def _finish(self, accepted: bool, distances: list[float], threshold: float, consistent: bool) -> VerifyOutcome:
        assert self._claim is not None
        claim, person_id = self._claim
        lockout = 0.0
        if accepted:
            self.rejections = 0
        else:
            self.rejections += 1
            if self.rejections >= self.max_rejections and self.lockout_s > 0:
                lockout = self.lockout_s
                self._locked_until = self._clock() + lockout
                self.rejections = 0
        outcome = VerifyOutcome(
            claim=claim,
            person_id=person_id,
            accepted=accepted,
            distance=float(statistics.median(distances)),
            threshold=float(threshold),
            frames=self._frames,
            consistent=consistent,
            lockout_s=lockout,
        )
        self.cancel()
        return outcome


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
