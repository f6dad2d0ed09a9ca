"""Display logic of the window that needs no Qt, so it can be unit-tested on its own.

Only what is about showing things lives here (:class:`FpsMeter`: results per second over a
sliding window). The rules behind the window's decisions belong to the application layer and
are shared with the command line: live enrollment shots (``faceapp.app.enrollment.ShotCapture``),
when a sighting is logged (``faceapp.app.recognition.SightingRule``) and live verification
(``faceapp.verification.VerifyDecider``).

Time comes from an injectable ``clock`` (``time.monotonic`` by default) so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections import deque

from ..verification import Clock


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
