"""The window's Qt-free display logic: frames per second. (The rules behind its decisions are the
application layer's: tests/app/test_enrollment.py, tests/app/test_recognition.py and, for live
verification, tests/test_verification.py.)"""

from __future__ import annotations

import pytest

from faceapp.gui.decisions import FpsMeter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
