"""Frozen value types passed between the pipeline stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, w, h) in pixels, 5 landmarks (x, y) and a detector score.

    Landmarks are ordered as in the alignment template: the eye on the image's left,
    the eye on the image's right, nose tip, left mouth corner, right mouth corner.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # (5, 2) float32
    score: float

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    def int_box(self) -> list[int]:
        return [int(round(v)) for v in self.box]


@dataclass(frozen=True)
class Frame:
    """An RGB uint8 frame from a source, with its index and capture time (seconds)."""

    image: np.ndarray
    index: int
    timestamp: float
    path: str | None = None  # set when the frame came from an image file


@dataclass(frozen=True)
class Match:
    """The answer of matching one encoding against a gallery.

    ``name`` is None when nobody is close enough (identify) or the claim failed (verify
    keeps the claimed name and sets ``accepted`` False).
    """

    name: str | None
    distance: float
    accepted: bool
    person_id: int | None = None


@dataclass(frozen=True)
class FaceResult:
    """One face found in a frame and who it is."""

    detection: Detection
    match: Match
    crop: np.ndarray | None = field(default=None, repr=False)  # 112x112 RGB aligned face
    encoding: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline found in one frame."""

    frame: Frame
    faces: tuple[FaceResult, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)


_ONE_ROW_OF = {"people": "person", "templates": "template", "events": "event",
               "unknown_groups": "unknown group", "unknown_sightings": "unknown sighting"}


def table_counts(counts: Mapping[str, int]) -> str:
    """A gallery's row counts in words: {'people': 1, 'unknown_groups': 2} -> '1 person, 2 unknown groups'.

    Here rather than in storage so that a front end reporting a copy or a conversion and a
    store refusing one word their counts alike.
    """
    return ", ".join(f"{n} {_ONE_ROW_OF.get(table, table) if n == 1 else table.replace('_', ' ')}"
                     for table, n in counts.items())
