"""Unknown faces remembered, as use-cases for both front ends: faces that stay Unknown (per
track in video and live, per photo otherwise) keep their best crop and encoding, grouped online
into anonymous people ("Unknown 7: seen 5 times"), which can later be named (enrolled) or
forgotten. Off unless chosen (``AppConfig.remember_unknowns``); the retention period
(``AppConfig.unknowns_retention_days``) erases old sightings (faceapp.app.privacy).

Grouping rule: a face joins the group whose mean encoding is nearest, if that is within the 1:1
threshold (by the distance the card's thresholds mean: adjusted for a crowded face, as
``faceapp.cohort`` says), else starts a new group. Groups are never merged automatically: two groups of one
stranger are better than one group of two strangers, whose naming would enroll a wrong face.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np

from ..cohort import Cohort
from ..errors import FaceAppError
from ..match import distances
from ..names import validate_name
from ..storage.unknown_records import UnknownGroupInfo
from .database import Database

if TYPE_CHECKING:
    from ..track import TrackSummary
    from ..types import FaceResult, FrameResult

# Why a face stays Unknown as a stranger (faceapp.decide): not "ambiguous" (between two enrolled
# people) nor "quality" (too poor to judge), whose encodings would group badly.
STRANGER_REASONS = ("too far", "nobody enrolled")


class UnknownsError(FaceAppError):
    """An unknown group that cannot be named or forgotten as asked."""


def list_unknowns(db: Database) -> list[UnknownGroupInfo]:
    """Every remembered anonymous person: id, sightings, first and last seen (ISO-8601 UTC), sources."""
    return db.store.unknown_groups()


def unknown_crops(db: Database, group_id: int) -> list[bytes]:
    """The kept face crops (lossless WebP) of unknown ``group_id``, oldest first, for a front end
    to show; StoreError when there is no such group. The administrator's role only."""
    return [f.crop for f in db.store.unknown_faces(group_id) if f.crop is not None]


def nearest_group(db: Database, model_id: str, encoding: np.ndarray, threshold: float,
                  cohort: Cohort | None = None) -> int | None:
    """The group whose mean encoding is nearest to ``encoding`` when within ``threshold``, else None;
    with the model's ``cohort``, by the distance the threshold means (``faceapp.cohort``)."""
    groups, encodings = db.store.unknown_encodings(model_id)
    if not len(groups) or encodings.shape[1] != np.asarray(encoding).shape[-1]:
        return None
    ids = np.unique(groups)
    means = np.stack([encodings[groups == g].mean(axis=0) for g in ids])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    gaps = distances(np.asarray(encoding, np.float32), means.astype(np.float32))
    if cohort is not None:
        gaps = cohort.adjust(gaps, cohort.crowding(np.asarray(encoding, np.float32)[None])[0])
    best = int(np.argmin(gaps))
    return int(ids[best]) if float(gaps[best]) <= threshold else None


def remember_face(db: Database, model_id: str, encoding: np.ndarray, threshold: float, crop: np.ndarray | None = None,
                  source: str | None = None, cohort: Cohort | None = None) -> int:
    """Keep one Unknown face (its unit encoding and aligned 112x112 RGB crop) in the nearest
    group within ``threshold`` (the 1:1 threshold, judged with the model's ``cohort``), or a new
    one; returns the group's id."""
    from ..images import encode_lossless

    group = nearest_group(db, model_id, encoding, threshold, cohort)
    kept = None if crop is None else encode_lossless(crop)
    return db.store.remember_unknown(model_id, np.asarray(encoding, np.float32), crop=kept, source=source,
                                     group_id=group)


@dataclass(frozen=True)
class Named:
    """What naming an unknown group did."""

    name: str  # as stored
    faces: int  # templates added
    new_person: bool


def naming_doubt(db: Database, group_id: int, name: str, model_id: str, threshold: float,
                 cohort: Cohort | None = None) -> str | None:
    """Why naming unknown ``group_id`` as ``name`` may be a mistake, or None: when ``name`` is
    someone enrolled whose templates' mean lies farther than the 1:1 ``threshold`` from the
    group's mean (judged with the model's ``cohort``), the faces would not even be verified as
    them. Naming stays possible (a person seen only in poor light is the very case for adding
    faces), but a front end asks first."""
    name = validate_name(name)
    if not db.has_person(name):
        return None
    existing = db.store.templates_of(name, model_id)
    faces = [np.frombuffer(f.encoding, dtype="<f4") for f in db.store.unknown_faces(group_id) if f.model_id == model_id]
    if not len(existing) or not faces:
        return None
    means = np.stack([np.mean(faces, axis=0), np.asarray(existing, np.float32).mean(axis=0)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    gap = float(np.linalg.norm(means[0] - means[1]))
    if cohort is not None:
        gap = float(cohort.adjust(gap, cohort.crowding(means[:1].astype(np.float32))[0]))
    if gap <= threshold:
        return None
    return (f"unknown {group_id}'s faces lie at {gap:.3f} from {db.person(name).name}'s, beyond the 1:1 threshold "
            f"{threshold:.3f}: they may be someone else")


def name_unknown(db: Database, group_id: int, name: str, model_id: str) -> Named:
    """Enroll unknown ``group_id``'s kept faces (made by ``model_id``) as ``name``, a new person or
    added to an existing one, then forget the group. Its best crop becomes a new person's thumbnail."""
    from ..images import decode_image, encode_jpeg
    from .enrollment import THUMBNAIL_QUALITY

    name = validate_name(name)
    faces = [f for f in db.store.unknown_faces(group_id) if f.model_id == model_id]
    if not faces:
        raise UnknownsError(f"unknown {group_id} has no faces made by the current model {model_id!r} to enroll")
    encodings = np.stack([np.frombuffer(f.encoding, dtype="<f4") for f in faces]).astype(np.float32)
    new_person = not db.has_person(name)
    crops = [f.crop for f in faces]
    first_crop = next((c for c in crops if c is not None), None)
    thumbnail = (encode_jpeg(decode_image(first_crop, "crop"), THUMBNAIL_QUALITY)
                 if new_person and first_crop is not None else None)
    db.store.enroll(name, encodings, model_id, sources=[f.source for f in faces], thumbnail=thumbnail, crops=crops)
    db.store.forget_unknown(group_id)
    return Named(db.person(name).name, len(faces), new_person)


def forget_unknown(db: Database, group_id: int) -> int:
    """Erase unknown ``group_id`` and every sighting of it, leaving no bytes; returns how many went."""
    return db.store.forget_unknown(group_id)


def purge_unknowns(db: Database, days: int, now: datetime | None = None) -> int:
    """Erase the sightings older than ``days`` days (the retention period); returns how many went."""
    if days <= 0:
        return 0
    now = now or datetime.now(timezone.utc)
    return db.store.purge_unknowns(now - timedelta(days=days))


class UnknownMemory:
    """Remembers the strangers of one identify run: each photo's Unknown faces at once, and each
    Unknown track's best face (highest detection score) when the track ends. Needs frames
    processed with crops kept."""

    def __init__(self, db: Database, model_id: str, threshold: float, cohort: Cohort | None) -> None:
        self.db, self.model_id, self.threshold, self.cohort = db, model_id, float(threshold), cohort
        self._best: dict[int, tuple[float, np.ndarray, np.ndarray, str | None]] = {}
        self.remembered: list[int] = []  # group ids, one per face kept

    @staticmethod
    def is_stranger(face: FaceResult) -> bool:
        match = face.match
        return (not match.accepted and getattr(match, "reason", "too far") in STRANGER_REASONS
                and face.encoding is not None and face.crop is not None)

    def offer(self, result: FrameResult, source: str | None, photo: bool) -> None:
        """Consider the faces of one frame (and remember the Unknown tracks that ended with it)."""
        for face in result.faces:
            track = getattr(face.match, "track", None)
            if not self.is_stranger(face):
                if track is not None and face.match.accepted:
                    self._best.pop(track, None)  # named after all: not a stranger
                continue
            if photo or track is None:
                self._keep(face.encoding, face.crop, source)
                continue
            score = float(face.detection.score)
            if track not in self._best or score > self._best[track][0]:
                self._best[track] = (score, face.encoding, face.crop, source)
        self.tracks_ended(getattr(result, "ended", ()))

    def tracks_ended(self, ended: Iterable[TrackSummary]) -> None:
        """Remember the best face of each ended track that stayed Unknown."""
        for summary in ended:
            best = self._best.pop(summary.track, None)
            if best is not None and summary.person_id is None:
                self._keep(best[1], best[2], best[3])

    def _keep(self, encoding: np.ndarray, crop: np.ndarray, source: str | None) -> None:
        self.remembered.append(remember_face(self.db, self.model_id, encoding, self.threshold, crop, source, self.cohort))

