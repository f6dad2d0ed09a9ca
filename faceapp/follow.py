"""Frames in, decided faces out: detect, align, track, encode where needed, decide.

:class:`FaceFollower` is what ``faceapp identify`` and the window run on every frame. A frame
from an image file is a photo: each face is encoded and decided alone (a track of one frame).
Frames of a video, camera or stream go through a :class:`~faceapp.track.FaceTracker`, and each
face shows its track's decision, made on the track's evidence rather than on that frame alone.
With ``tracking`` off every face of every frame is encoded and decided alone, which is what
``benchmarks/bench_pipeline.py`` compares against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .align import align_face
from .decide import Decision, OpenSetRule, decide_many, people_count
from .match import Gallery
from .quality import FaceQuality, assess
from .track import FaceTracker, Track, TrackSummary
from .types import Detection, FaceResult, Frame, FrameResult

if TYPE_CHECKING:  # annotations only: the pipeline module loads OpenCV and the encoder
    from .pipeline import Pipeline


@dataclass(frozen=True)
class FollowSettings:
    tracking: bool = True
    encode_all: bool = False  # encode every face of every frame (live verify and enroll need each one)
    max_missed: int = 5  # frames a track may go without its face before it ends
    # Judgeable frames a track needs before it is named. One is enough for the rule's stated
    # rates (the FPIR levels are calibrated on single photos); more frames only average noise out.
    min_evidence: int = 1
    warmup: int = 3  # a new track's first judgeable frames are all encoded, to gather evidence fast
    reencode_every: int = 5  # frames between encodings after that


@dataclass(frozen=True)
class TrackedFrame(FrameResult):
    """A FrameResult whose faces carry :class:`~faceapp.decide.Decision` matches, and the tracks
    that ended at this frame."""

    ended: tuple[TrackSummary, ...] = ()
    encoded: int = 0  # faces encoded in this frame


def _unknown(reason: str, quality: float | None = None, threshold: float = math.inf) -> Decision:
    return Decision(None, math.inf, False, None, threshold=threshold, quality=quality, reason=reason)


class FaceFollower:
    """Decides every face of every frame of one source by one open-set rule."""

    def __init__(self, pipeline: Pipeline, rule: OpenSetRule, settings: FollowSettings | None = None) -> None:
        self.pipeline = pipeline
        self.rule = rule
        self.settings = settings or FollowSettings()
        self.tracker = FaceTracker(self.settings.max_missed)

    def reset(self) -> list[TrackSummary]:
        """A new source: end every track (returned) and start numbering afresh."""
        ended = self.finish()
        self.tracker = FaceTracker(self.settings.max_missed)
        return ended

    def finish(self) -> list[TrackSummary]:
        """The source is over: end and summarise every live track."""
        return [t.summary() for t in self.tracker.finish()]

    def process(self, frame: Frame, gallery: Gallery | None, keep_crops: bool = False) -> TrackedFrame:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        still = frame.path is not None
        detections = self.pipeline.find_faces(frame.image, still=still)
        timings["detect"] = _ms_since(started)
        started = time.perf_counter()
        crops = [align_face(frame.image, d.landmarks) for d in detections]
        qualities = [assess(d, c) for d, c in zip(detections, crops)]
        timings["align"] = _ms_since(started)
        if still or not self.settings.tracking:
            return self._alone(frame, gallery, detections, crops, qualities, keep_crops, timings)
        tracks, ended = self.tracker.assign(detections, frame.index, frame.timestamp)
        # A face too poor to judge is not encoded at all (it could add no evidence), unless every
        # encoding is asked for.
        wanted = [i for i, (t, q) in enumerate(zip(tracks, qualities))
                  if self.settings.encode_all or (self.rule.limits.judgeable(q) and t.wants_encoding(
                      frame.index, q, self.settings.warmup, self.settings.reencode_every))]
        started = time.perf_counter()
        encodings, learned = self.pipeline.embed_crops([crops[i] for i in wanted])
        for i, value in zip(wanted, learned):
            qualities[i] = replace(qualities[i], learned=value)
        timings["embed"] = _ms_since(started)
        started = time.perf_counter()
        by_face: dict[int, np.ndarray] = {}
        for i, encoding in zip(wanted, encodings):
            by_face[i] = encoding
            if tracks[i].add(encoding, qualities[i], frame.index, self.rule.limits) == "switch":
                ended.append(tracks[i])  # someone else's face: it starts its own evidence
                tracks[i] = self.tracker.replace(tracks[i], frame.index, frame.timestamp)
                tracks[i].add(encoding, qualities[i], frame.index, self.rule.limits)
        faces = []
        for i, (track, detection) in enumerate(zip(tracks, detections)):
            decision = replace(self._track_decision(track, gallery, qualities[i]), track=track.id, evidence=track.evidence,
                               quality=qualities[i].value, learned_quality=qualities[i].learned_value)
            faces.append(FaceResult(detection, decision, crops[i] if keep_crops else None, by_face.get(i)))
        timings["match"] = _ms_since(started)
        return TrackedFrame(frame, tuple(faces), timings, tuple(t.summary() for t in ended), len(wanted))

    def _alone(self, frame: Frame, gallery: Gallery | None, detections: list[Detection], crops: list[np.ndarray],
               qualities: list[FaceQuality], keep_crops: bool, timings: dict[str, float]) -> TrackedFrame:
        """Every face encoded and decided on its own (photos, and tracking off)."""
        started = time.perf_counter()
        encodings, learned = self.pipeline.embed_crops(crops)
        qualities = [replace(q, learned=value) for q, value in zip(qualities, learned)]
        timings["embed"] = _ms_since(started)
        started = time.perf_counter()
        decisions = self._decide(encodings, gallery, qualities)
        timings["match"] = _ms_since(started)
        faces = tuple(FaceResult(detection, decision, crop if keep_crops else None, encoding)
                      for detection, decision, crop, encoding in zip(detections, decisions, crops, encodings))
        return TrackedFrame(frame, faces, timings, (), len(crops))

    def _track_decision(self, track: Track, gallery: Gallery | None, quality: FaceQuality) -> Decision:
        """The track's decision on its evidence, made again only when the evidence, the gallery or
        the rule changed."""
        key = (track.evidence, id(gallery), self.rule)
        if track.decision is not None and track.decided_on == key:
            return track.decision
        mean = track.mean
        if mean is None:
            problems = self.rule.limits.problems(quality)
            held_to = self.rule.threshold_for(people_count(gallery)) if gallery is not None and len(gallery) else math.inf
            decision = _unknown("quality" if problems else "gathering", quality.value, held_to)
        else:
            decision = self._decide(mean[None, :], gallery, [None])[0]
            if decision.accepted and track.evidence < self.settings.min_evidence:
                decision = replace(decision, name=None, accepted=False, person_id=None, reason="gathering")
        track.decision, track.decided_on = decision, key
        return decision

    def _decide(self, encodings: np.ndarray, gallery: Gallery | None, qualities: list) -> list[Decision]:
        if gallery is None or len(gallery) == 0:
            return [_unknown("nobody enrolled", q.value if q is not None else None) for q in qualities]
        return decide_many(encodings, gallery, self.rule, qualities)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
