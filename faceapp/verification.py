"""Live 1:1 verification as one rule for the GUI and the CLI: a claim is decided by several
frames that agree, not by one lucky (or unlucky) frame.

:class:`VerifyDecider` takes one distance per frame; ``needed`` agreeing frames among the
last ``window`` frames with a face decide, an attempt that sees ``max_frames`` face frames
without agreement is rejected as inconsistent, and repeated rejections lock verification
out for a while. Time comes from an injectable ``clock`` so tests need no sleeping.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


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

    @property
    def claimed_id(self) -> int | None:
        """The person id of the attempt in progress (names change on rename; ids do not)."""
        return None if self._claim is None else self._claim[1]

    def reconfigured(self, window: int, needed: int, max_rejections: int, lockout_s: float) -> VerifyDecider:
        """A decider with new settings that keeps this one's lockout and rejections in a row:
        changing a setting must not lift a lockout. An attempt in progress is not carried over."""
        new = VerifyDecider(window, needed, max_rejections, lockout_s, clock=self._clock)
        new._locked_until = self._locked_until
        new.rejections = min(self.rejections, new.max_rejections - 1)
        return new

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

    def conclude(self, threshold: float) -> VerifyOutcome | None:
        """End the attempt now (the source ran out before the frames agreed): rejected as
        inconsistent, with the frames seen so far; None when no face frame was seen."""
        if self._claim is None or not self._votes:
            self.cancel()
            return None
        return self._finish(False, [d for _, d in self._votes], threshold, consistent=False)

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
