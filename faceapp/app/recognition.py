"""Verifying (1:1) and identifying (1:N), written once for the command line and the window:
a photo, a live attempt decided by several agreeing frames (``faceapp.verification``), and
identification that logs sightings by one rule (:class:`SightingRule`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FaceAppError, NoFaceError
from ..match import Gallery, verify
from ..storage import PersonInfo
from ..types import FaceResult, Frame, FrameResult, Match
from ..verification import VerifyDecider, VerifyOutcome
from .database import Database

if TYPE_CHECKING:  # annotations only: importing the pipeline loads torch and OpenCV
    from ..pipeline import Pipeline

# A live attempt looks at up to this many frames per agreeing frame it needs.
VERIFY_FRAME_BUDGET = 10


class NotVerifiableError(FaceAppError):
    """The claimed person has nothing the current model can compare with."""


def check_verifiable(person: PersonInfo, gallery: Gallery) -> None:
    """Refuse, by name, a person with nothing to compare against for this model, with the
    right advice: templates of another model want 'faceapp reencode', none at all enrolling."""
    if len(gallery.for_person(person.id)):
        return
    if person.templates:
        raise NotVerifiableError(
            f"{person.name} has no usable templates for model {gallery.model_id!r}, only {person.templates} made by "
            "another model (or damaged): run 'faceapp reencode', or enroll them again if it cannot re-encode them"
        )
    raise NotVerifiableError(f"{person.name} has no templates; enroll them first")


# --- verify ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """One verification's answer, as logged and shown."""

    name: str
    accepted: bool
    distance: float
    threshold: float
    decision: str  # the events log's text: "accepted", "rejected (inconsistent frames)", ...
    source: str
    frames: int = 1
    consistent: bool = True


def log_verification(db: Database, person: PersonInfo, result: VerifyResult) -> None:
    db.log_event("verify", person_id=person.id, name=person.name, decision=result.decision,
                 distance=result.distance, source=result.source or None)


def verify_photo(pipeline: Pipeline, gallery: Gallery, person: PersonInfo, path: Path, threshold: float,
                 largest: bool = False) -> VerifyResult:
    """Is the one face of this photo ``person``? (Not logged: see :func:`log_verification`.)"""
    from .enrollment import encode_photo

    face = encode_photo(pipeline, path, largest)
    match = verify(face.encoding, gallery, person.id, threshold)
    return VerifyResult(person.name, match.accepted, match.distance, threshold,
                        "accepted" if match.accepted else "rejected", str(path))


def claim_distance(result: FrameResult, gallery: Gallery, person_id: int, threshold: float) -> float | None:
    """The distance from a frame's largest face to the claimed person (None: no face)."""
    if not result.faces or result.faces[0].encoding is None:
        return None
    return verify(result.faces[0].encoding, gallery, person_id, threshold).distance


def outcome_result(outcome: VerifyOutcome, source: str) -> VerifyResult:
    return VerifyResult(outcome.claim, outcome.accepted, outcome.distance, outcome.threshold, outcome.decision,
                        source, outcome.frames, outcome.consistent)


def verify_live(pipeline: Pipeline, gallery: Gallery, person: PersonInfo, source_spec: str, threshold: float,
                needed: int, window: int | None = None) -> VerifyResult:
    """Verify the largest face over several frames by the window's rule: ``needed`` agreeing
    frames among the last ``window`` (default needed + 2) decide; frames without a face do not
    count; a source that runs out or a frame budget spent first means rejected as inconsistent."""
    from ..camera import open_source

    window = needed + 2 if window is None else window
    budget = VERIFY_FRAME_BUDGET * needed
    decider = VerifyDecider(window=window, needed=needed, lockout_s=0.0, max_frames=budget)  # one attempt: no lockout
    decider.start(person.name, person.id)
    outcome, read, seen = None, 0, 0
    with open_source(source_spec) as source:
        label = source.describe()
        for frame in source:
            read += 1
            faces = pipeline.find_faces(frame.image, still=frame.path is not None)
            distance = None
            if faces:
                seen += 1
                encoding = pipeline.encode(frame.image, faces[:1])[0].encoding
                distance = verify(encoding, gallery, person.id, threshold).distance
            outcome = decider.add(distance, threshold)
            if outcome is not None or read >= budget:
                break
    if outcome is None:
        if seen < needed:
            raise NoFaceError(f"{label}: a face was seen in only {seen} of {read} frames; {needed} are needed")
        outcome = decider.conclude(threshold)
    assert outcome is not None
    return outcome_result(outcome, label)


# --- identify ------------------------------------------------------------------------------------


class SightingRule:
    """When a recognised (or unknown) face is worth an 'identify' event: every face of a still
    photo; in a video or live source, when its person arrives, that is when they were not seen
    in the last ``interval_s`` seconds of the source's own time. Someone standing in view for
    an hour is one sighting; someone who leaves and comes back later is two.

    ``photos=False`` treats frames from image files as a stream too: the window shows a folder
    as a slideshow that may loop, so its images are not separate photos there."""

    def __init__(self, interval_s: float = 60.0, photos: bool = True) -> None:
        self.interval_s = float(interval_s)
        self.photos = photos
        self._last_seen: dict[Hashable, float] = {}

    @staticmethod
    def key(match: Match) -> Hashable:
        return match.person_id if match.accepted and match.person_id is not None else None

    def is_photo(self, frame: Frame) -> bool:
        return self.photos and frame.path is not None

    def due(self, match: Match, frame: Frame) -> bool:
        if self.is_photo(frame):
            return True
        key = self.key(match)
        last = self._last_seen.get(key)
        self._last_seen[key] = frame.timestamp
        return last is None or not (0 <= frame.timestamp - last <= self.interval_s)

    def forget(self) -> None:
        """A new source: everyone seen from now on arrives anew."""
        self._last_seen.clear()


def sightings(result: FrameResult, rule: SightingRule) -> list[FaceResult]:
    """The faces of ``result`` that ``rule`` says to log (each person at most once a frame)."""
    due: list[FaceResult] = []
    keys: set[Hashable] = set()
    for face in result.faces:
        key = SightingRule.key(face.match)
        if not rule.is_photo(result.frame) and key in keys:
            continue
        keys.add(key)
        if rule.due(face.match, result.frame):
            due.append(face)
    return due


def log_sightings(db: Database, result: FrameResult, rule: SightingRule, source: str | None) -> int:
    """Log the sightings ``rule`` picks out of ``result``; returns how many were logged."""
    faces = sightings(result, rule)
    for face in faces:
        match = face.match
        db.log_event("identify", person_id=match.person_id if match.accepted else None,
                     name=match.name if match.accepted else None,
                     decision="recognised" if match.accepted else "unknown",
                     distance=match.distance, source=source or None)
    return len(faces)


def identify_frames(pipeline: Pipeline, db: Database, gallery: Gallery, threshold: float,
                    frames: Iterator[Frame], label: str, rule: SightingRule) -> Iterator[FrameResult]:
    """Identify every face of each frame and log sightings; yields each frame's result."""
    for frame in frames:
        result = pipeline.process(frame, gallery, threshold)
        where = frame.path or f"{label} frame {frame.index}"
        log_sightings(db, result, rule, where)
        yield result
