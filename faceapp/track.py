"""Following faces from frame to frame, and the evidence each track gathers (pure: numpy, scipy).

Each frame's detections are assigned to the live tracks by the Hungarian method
(``scipy.optimize.linear_sum_assignment``) on how far each box's centre moved, in face widths;
a detection no track can take starts a new track, and a track that finds no face for
``max_missed`` frames in a row ends. Missed frames are allowed for, so a hand across the face
or one missed detection keeps the track and its id.

A track's **evidence** is the quality-weighted mean of its judgeable encodings (quality as
``FaceQuality.value``; faces the judge limits reject add nothing). An encoding far from the
evidence gathered so far (a hand over the face, a look away) is left out, and several in a row
mean another person took over the box: the track then ends and a new one starts. The name is
decided on the evidence (``faceapp.decide``), so it holds while the face is turned or covered.

Re-encoding is what costs; a track asks for an encoding only while it is new (its first
``warmup`` judgeable frames), right after an outlier, every ``reencode_every`` frames after
that, or when a clearly better view of the face appears (see :meth:`Track.wants_encoding`).
A face too poor to judge is not encoded at all, so a face that turns away keeps its track's
name; the price is that another person's poor face taking over the same box at once (a cut in
an edited video) keeps it too, until a judgeable view of them shows the switch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .decide import Decision, JudgeLimits
from .quality import FaceQuality
from .types import Detection

# How far a face may move between two frames it is seen in, in face widths, to stay the same
# track (doubled for every frame it was missed, as a walking face keeps moving meanwhile).
MAX_MOVE = 0.8
MAX_SIZE_CHANGE = 2.0  # a box more than twice (or half) as wide is another face
OUTLIER_DISTANCE = 1.2  # an encoding this far from the track's evidence is not the same view of it
SWITCH_AFTER = 2  # outliers in a row: someone else is in the box
BETTER_VIEW = 0.1  # a quality this much above the best so far is worth encoding at once
_UNASSIGNABLE = 1e6


@dataclass(frozen=True)
class TrackSummary:
    """What is left of a track once it ends: for ``--tracks`` and the end-of-visit event."""

    track: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    name: str | None
    person_id: int | None
    evidence: int  # frames whose encodings went into the decision
    distance: float  # of the last decision

    @property
    def seconds(self) -> float:
        return max(0.0, self.last_time - self.first_time)


@dataclass
class Track:
    """One face followed over frames."""

    id: int
    detection: Detection
    first_frame: int
    first_time: float
    last_frame: int = 0
    last_time: float = 0.0
    missed: int = 0
    evidence_sum: np.ndarray | None = None
    evidence_weight: float = 0.0
    evidence: int = 0
    best_quality: float = 0.0
    encoded_at: int | None = None  # frame index of the last encoding
    outliers: int = 0  # in a row
    decision: Decision | None = None
    decided_on: tuple | None = None  # (evidence count, gallery id, rule) the decision is for

    @property
    def mean(self) -> np.ndarray | None:
        """The evidence: the quality-weighted mean encoding, L2-normalised (None: none yet)."""
        if self.evidence_sum is None:
            return None
        norm = float(np.linalg.norm(self.evidence_sum))
        return (self.evidence_sum / norm).astype(np.float32) if norm > 0 else None

    def wants_encoding(self, frame_index: int, quality: FaceQuality, warmup: int, reencode_every: int) -> bool:
        """Encode while the track has fewer than ``warmup`` judgeable frames or its last encoding
        was an outlier (is someone else here?), every ``reencode_every`` frames, or for a better view."""
        if self.evidence < warmup or self.outliers or self.encoded_at is None:
            return True
        if frame_index - self.encoded_at >= reencode_every:
            return True
        return quality.value >= self.best_quality + BETTER_VIEW

    def add(self, encoding: np.ndarray, quality: FaceQuality, frame_index: int, limits: JudgeLimits) -> str:
        """Weigh one encoding into the evidence. Returns "added", "poor" (not judgeable),
        "outlier" (far from the evidence) or "switch" (the box holds someone else now)."""
        self.encoded_at = frame_index
        if not limits.judgeable(quality):
            return "poor"
        mean = self.mean
        if mean is not None and float(np.linalg.norm(mean - encoding)) > OUTLIER_DISTANCE:
            self.outliers += 1
            return "switch" if self.outliers >= SWITCH_AFTER else "outlier"
        self.outliers = 0
        weight = max(quality.value, 1e-3)
        self.evidence_sum = encoding * weight if self.evidence_sum is None else self.evidence_sum + encoding * weight
        self.evidence_weight += weight
        self.evidence += 1
        self.best_quality = max(self.best_quality, quality.value)
        return "added"

    def summary(self) -> TrackSummary:
        d = self.decision
        named = d is not None and d.accepted
        return TrackSummary(self.id, self.first_frame, self.last_frame, self.first_time, self.last_time,
                            d.name if named else None, d.person_id if named else None, self.evidence,
                            d.distance if d is not None else float("inf"))


def centre_and_side(box: tuple[float, float, float, float]) -> tuple[float, float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2, max(1.0, (w + h) / 2)


def movement_costs(tracks: list[Track], detections: list[Detection]) -> np.ndarray:
    """(tracks, detections): how far each detection's centre is from each track's last box, in
    face widths; pairs too far apart, or too different in size, cost ``_UNASSIGNABLE``."""
    costs = np.full((len(tracks), len(detections)), _UNASSIGNABLE)
    for i, track in enumerate(tracks):
        tx, ty, tside = centre_and_side(track.detection.box)
        reach = MAX_MOVE * (1 + track.missed)
        for j, detection in enumerate(detections):
            dx, dy, dside = centre_and_side(detection.box)
            moved = float(np.hypot(dx - tx, dy - ty)) / max(tside, dside)
            ratio = max(tside, dside) / min(tside, dside)
            if moved <= reach and ratio <= MAX_SIZE_CHANGE:
                costs[i, j] = moved
    return costs


class FaceTracker:
    """The live tracks of one source. :meth:`assign` once per frame, then :meth:`Track.add`
    for the faces that were encoded; :meth:`finish` ends everything at the end of the source."""

    def __init__(self, max_missed: int = 5) -> None:
        self.max_missed = int(max_missed)
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def assign(self, detections: list[Detection], frame_index: int, timestamp: float) -> tuple[list[Track], list[Track]]:
        """The track of each detection (new ones started), and the tracks that ended now."""
        costs = movement_costs(self.tracks, detections)
        owner: list[Track | None] = [None] * len(detections)
        if costs.size:
            rows, cols = linear_sum_assignment(costs)
            for i, j in zip(rows, cols):
                if costs[i, j] < _UNASSIGNABLE:
                    owner[j] = self.tracks[i]
        seen = {id(t) for t in owner if t is not None}
        ended = []
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
                if track.missed > self.max_missed:
                    ended.append(track)
        self.tracks = [t for t in self.tracks if t not in ended]
        result = []
        for detection, track in zip(detections, owner):
            if track is None:
                track = self.start(detection, frame_index, timestamp)
            track.detection, track.missed = detection, 0
            track.last_frame, track.last_time = frame_index, timestamp
            result.append(track)
        return result, ended

    def start(self, detection: Detection, frame_index: int, timestamp: float) -> Track:
        track = Track(next(self._ids), detection, frame_index, timestamp, frame_index, timestamp)
        self.tracks.append(track)
        return track

    def replace(self, track: Track, frame_index: int, timestamp: float) -> Track:
        """End ``track`` (someone else took over its box) and start a new one in its place."""
        self.tracks.remove(track)
        return self.start(track.detection, frame_index, timestamp)

    def finish(self) -> list[Track]:
        """End every live track (the source is over)."""
        ended, self.tracks = self.tracks, []
        return ended
