"""Verifying (1:1) and identifying (1:N), written once for the command line and the window:
a photo, a live attempt decided by several agreeing frames (``faceapp.verification``), and
identification by the open-set rule (``faceapp.decide``) over tracked faces (``faceapp.follow``)
that logs sightings by one rule (:class:`SightingRule`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..decide import OpenSetRule
from ..errors import FaceAppError, NoFaceError
from ..match import Gallery, verify
from ..storage import PersonInfo
from ..types import FaceResult, Frame, FrameResult, Match
from ..verification import VerifyDecider, VerifyOutcome
from .config import AppConfig
from .database import Database
from .stations import SharedGallery

if TYPE_CHECKING:  # annotations only: importing the pipeline loads torch and OpenCV
    from ..follow import FaceFollower, TrackedFrame
    from .attendance import AttendanceSession
    from .unknowns import UnknownMemory
    from ..pipeline import Pipeline
    from ..track import TrackSummary

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


def identify_rule(config: AppConfig, threshold: float | None = None) -> OpenSetRule:
    """The open-set rule these settings choose (``faceapp.decide``): the FPIR level's threshold for
    the gallery's size, never above the 1:1 threshold, ``--threshold`` instead of both, and the
    margin. ``threshold`` replaces the configuration's 1:1 threshold (the window hands its worker
    the threshold alone when the security level changes)."""
    cap = config.require_threshold() if threshold is None else float(threshold)
    fixed = cap if config.threshold_override is not None else None
    return OpenSetRule.from_table(cap, config.fpir_table, config.margin, fixed=fixed, level=config.open_set_level)


def face_follower(pipeline: Pipeline, config: AppConfig, tracking: bool = True, encode_all: bool = False) -> FaceFollower:
    """Detect, track and decide frames by these settings' rule; ``encode_all`` for the live
    verify and enroll modes, which need every frame's encoding."""
    from ..follow import FaceFollower, FollowSettings

    return FaceFollower(pipeline, identify_rule(config), FollowSettings(tracking=tracking, encode_all=encode_all))


class SightingRule:
    """When a face is worth an 'identify' event.

    - every face of a still photo;
    - a tracked face (video or live, ``Decision.track``): once when its track is named (the
      person arrives), or, for a stranger, once when the track is judged Unknown on enough
      evidence; and once more when the track ends, with how long it was seen
      (:meth:`visits_ended`). A track whose face was never clear enough to judge is logged
      only when it ends, if it lasted ``min_frames`` frames;
    - a face without a track (frames decided one by one): when its person was not seen in the
      last ``interval_s`` seconds of the source's own time, the rule before tracks existed.

    ``photos=False`` treats frames from image files as a stream too: the window shows a folder
    as a slideshow that may loop, so its images are not separate photos there."""

    def __init__(self, interval_s: float = 60.0, photos: bool = True, min_frames: int = 3) -> None:
        self.interval_s = float(interval_s)
        self.photos = photos
        self.min_frames = int(min_frames)
        self._last_seen: dict[Hashable, float] = {}
        self._logged: dict[int, Hashable] = {}  # track -> the person (None: a stranger) logged for it

    @staticmethod
    def key(match: Match) -> Hashable:
        return match.person_id if match.accepted and match.person_id is not None else None

    def is_photo(self, frame: Frame) -> bool:
        return self.photos and frame.path is not None

    def due(self, match: Match, frame: Frame) -> bool:
        if self.is_photo(frame):
            return True
        track = getattr(match, "track", None)
        if track is not None:
            return self._track_due(track, match)
        key = self.key(match)
        last = self._last_seen.get(key)
        self._last_seen[key] = frame.timestamp
        return last is None or not (0 <= frame.timestamp - last <= self.interval_s)

    def _track_due(self, track: int, match: Match) -> bool:
        judged = match.accepted or getattr(match, "reason", "") in ("too far", "ambiguous", "nobody enrolled")
        key = self.key(match)
        if not judged or (track in self._logged and (self._logged[track] == key or key is None)):
            return False  # not decided yet, or nothing new: a named track that turns Unknown keeps its event
        self._logged[track] = key
        return True

    def visits_ended(self, ended: Sequence[TrackSummary]) -> list[tuple[TrackSummary, str]]:
        """The event text for each ended track worth one: how long a logged track was seen, or
        an unjudged one that lasted ``min_frames`` frames."""
        texts = []
        for summary in ended:
            seen = f"{summary.seconds:.1f} s"
            if self._logged.pop(summary.track, "never") != "never":
                texts.append((summary, f"left after {seen}"))
            elif summary.last_frame - summary.first_frame + 1 >= self.min_frames:
                texts.append((summary, f"unknown, seen {seen} (the face was never clear enough to judge)"))
        return texts

    def forget(self) -> None:
        """A new source: everyone seen from now on arrives anew."""
        self._last_seen.clear()
        self._logged.clear()


def sightings(result: FrameResult, rule: SightingRule) -> list[FaceResult]:
    """The faces of ``result`` that ``rule`` says to log (each untracked person at most once a frame)."""
    due: list[FaceResult] = []
    keys: set[Hashable] = set()
    for face in result.faces:
        untracked = getattr(face.match, "track", None) is None
        key = SightingRule.key(face.match)
        if untracked and not rule.is_photo(result.frame) and key in keys:
            continue
        if untracked:
            keys.add(key)
        if rule.due(face.match, result.frame):
            due.append(face)
    return due


def log_sightings(db: Database, result: FrameResult, rule: SightingRule, source: str | None,
                  session: AttendanceSession | None = None) -> int:
    """Log the sightings ``rule`` picks out of ``result``, and the visits of the tracks that ended
    with it; returns how many events were logged. With a ``session``, its arrivals and departures
    are marked too (faceapp.app.attendance)."""
    faces = sightings(result, rule)
    if session is not None:
        session.arrivals(result.frame, faces)
        session.departures(getattr(result, "ended", ()))
    for face in faces:
        match = face.match
        db.log_event("identify", person_id=match.person_id if match.accepted else None,
                     name=match.name if match.accepted else None,
                     decision="recognised" if match.accepted else "unknown",
                     distance=match.distance, source=source or None)
    return len(faces) + log_visits(db, getattr(result, "ended", ()), rule, source)


def log_visits(db: Database, ended: Sequence[TrackSummary], rule: SightingRule, source: str | None) -> int:
    """One event per ended track that ``rule`` says is worth one (how long it was seen)."""
    visits = rule.visits_ended(ended)
    for summary, text in visits:
        db.log_event("identify", person_id=summary.person_id, name=summary.name, decision=text,
                     distance=summary.distance, source=source or None)
    return len(visits)


def identify_frames(follower: FaceFollower, db: Database, gallery: Gallery | SharedGallery, frames: Iterator[Frame],
                    label: str, rule: SightingRule, session: AttendanceSession | None = None,
                    unknowns: UnknownMemory | None = None) -> Iterator[TrackedFrame]:
    """Decide every face of each frame and log sightings; yields each frame's result. The caller
    ends the source's tracks with :func:`finish_tracks` (it may stop reading early). A
    SharedGallery is reloaded when another station changes it, and events kept while its
    server was away are written as soon as it is back. With ``unknowns``, faces that stay Unknown
    are remembered (faceapp.app.unknowns)."""
    for frame in frames:
        current = gallery.current() if isinstance(gallery, SharedGallery) else gallery
        if isinstance(gallery, SharedGallery):
            db.catch_up(gallery)
        result = follower.process(frame, current, keep_crops=unknowns is not None)
        where = frame.path or f"{label} frame {frame.index}"
        log_sightings(db, result, rule, where, session)
        if unknowns is not None:
            unknowns.offer(result, frame.path or label, photo=rule.is_photo(frame))
        yield result


def finish_tracks(follower: FaceFollower, db: Database, rule: SightingRule, label: str,
                  session: AttendanceSession | None = None, unknowns: UnknownMemory | None = None) -> list[TrackSummary]:
    """End the source's tracks, log their visits (and a session's departures), and return their
    summaries (for ``--tracks``)."""
    ended = follower.finish()
    log_visits(db, ended, rule, label)
    if session is not None:
        session.departures(ended)
    if unknowns is not None:
        unknowns.tracks_ended(ended)
    return ended
