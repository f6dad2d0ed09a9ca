"""Enrolling, written once: faces from photo files, shots from a live source (one capture
rule), the checks (``enroll_checks``: too poor, unlike the person's other faces, a look-alike),
and the one transaction that stores a person's templates.
``faceapp enroll``, ``faceapp import`` and the window's enroll wizard all come through here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cohort import Cohort
from ..decide import JudgeLimits
from ..errors import FaceAppError, ImageError, MultipleFacesError, NoFaceError
from ..names import validate_name
from ..quality import FaceQuality
from ..types import FrameResult, Match
from .database import Database
# The checks live in enroll_checks; the front ends have always imported them from here.
from .enroll_checks import (  # noqa: F401
    Lookalike,
    RefusedShotsError,
    lookalikes,
    poor_face_message,
    same_face_as_any,
    screen_shots,
)

if TYPE_CHECKING:  # annotations only: importing the pipeline loads torch and OpenCV
    from ..pipeline import EncodedFace, Pipeline

THUMBNAIL_QUALITY = 90
# A live source gets this many frames per requested shot before enrolling gives up.
SHOT_FRAME_BUDGET = 30
NO_FACE_HINT = "no face in view: look at the camera"
COVERED_HINT = "the face is unclear: keep hands and hair off it"
MANY_FACES_HINT = "more than one face: only the person enrolling should be in view"
PHOTO_FAILURES = (ImageError, NoFaceError, MultipleFacesError)


@dataclass(frozen=True)
class Shot:
    """One face to enroll: its aligned crop, encoding, quality and where it came from."""

    crop: np.ndarray
    encoding: np.ndarray
    quality: float  # FaceQuality.value
    source: str | None = None
    match: Match | None = None  # whom the face matched when it was captured live
    problems: tuple[str, ...] = ()  # why the face is too poor to store (JudgeLimits), empty when fine

    @classmethod
    def of(cls, face: EncodedFace, source: str | None) -> Shot:
        return cls(face.crop, np.asarray(face.encoding, np.float32), face.quality.value, source,
                   problems=tuple(JudgeLimits().problems(face.quality)))

    def label(self, number: int) -> str:
        return self.source or f"shot {number}"


# --- photos -------------------------------------------------------------------------------


def encode_photo(pipeline: Pipeline, path: str | Path, largest: bool = False, label: str | None = None) -> EncodedFace:
    """The one face of a photo file (``largest``: the largest of several); errors name the file."""
    from ..images import load_image

    return pipeline.encode_one(load_image(path), largest=largest, label=label or str(path))


def photo_shots(pipeline: Pipeline, paths: Sequence[Path], largest: bool = False) -> tuple[list[Shot], list[str]]:
    """A shot per usable photo, and one message per photo that cannot be used."""
    shots: list[Shot] = []
    problems: list[str] = []
    for path in paths:
        try:
            shot = Shot.of(encode_photo(pipeline, path, largest), str(Path(path).resolve()))
        except PHOTO_FAILURES as exc:
            problems.append(str(exc))
            continue
        if shot.problems:
            problems.append(poor_face_message(str(path), shot.problems))
        else:
            shots.append(shot)
    return shots, problems


# --- live shots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureStep:
    """What one frame meant for enrollment: hints to show, the face's quality and a new shot if taken."""

    hints: tuple[str, ...]
    quality: FaceQuality | None = None
    shot: Shot | None = None


class ShotCapture:
    """Takes ``shots_needed`` shots by itself from frames with exactly one good face.

    A face is good when ``FaceQuality.ok`` (large, sharp, frontal). Shots are at least
    ``min_interval_s`` apart in the source's own time (so they differ a little, and a video
    file gives the same shots however fast it is read); frames of different still images
    always differ. Frames need crops (processed with ``keep_crops=True``).
    """

    def __init__(self, shots_needed: int = 5, min_interval_s: float = 0.5) -> None:
        if shots_needed < 1:
            raise ValueError("shots_needed must be >= 1")
        self.shots_needed = int(shots_needed)
        self.min_interval_s = float(min_interval_s)
        self._last: tuple[float, str | None] | None = None  # (timestamp, image path) of the last shot
        self.shots: list[Shot] = []
        self.problems: Counter[str] = Counter()  # why frames were passed over, for a final message

    @property
    def done(self) -> bool:
        return len(self.shots) >= self.shots_needed

    def _spaced(self, timestamp: float, path: str | None) -> bool:
        if self._last is None:
            return True
        last_time, last_path = self._last
        if path is not None and path != last_path:
            return True
        return timestamp - last_time >= self.min_interval_s

    def offer(self, result: FrameResult, source: str | None = None) -> CaptureStep:
        faces = result.faces
        if not faces:
            self.problems[NO_FACE_HINT] += 1
            return CaptureStep((NO_FACE_HINT,))
        if len(faces) > 1:
            self.problems[MANY_FACES_HINT] += 1
            return CaptureStep((MANY_FACES_HINT,))
        face = faces[0]
        if face.crop is None or face.encoding is None:
            raise ValueError("ShotCapture needs frames processed with keep_crops=True")
        from ..quality import assess

        quality = assess(face.detection, face.crop)
        hints = quality.problems + ([COVERED_HINT] if quality.score < JudgeLimits().min_score else [])
        if hints:
            self.problems.update(hints)
            return CaptureStep(tuple(hints), quality)
        frame = result.frame
        if self.done or not self._spaced(frame.timestamp, frame.path):
            return CaptureStep((), quality)
        encoding = np.asarray(face.encoding, np.float32)
        if same_face_as_any(encoding, [s.encoding for s in self.shots]):
            return CaptureStep((), quality)  # a looping folder's image again: enrolling it twice only weighs it twice
        self._last = (frame.timestamp, frame.path)
        shot = Shot(face.crop, encoding, quality.value, source, face.match)
        self.shots.append(shot)
        return CaptureStep((), quality, shot)

    def reset(self) -> None:
        self.shots.clear()
        self.problems.clear()
        self._last = None


def capture_shots(pipeline: Pipeline, source_spec: str, shots: int, min_interval_s: float = 0.5,
                  on_shot: Callable[[int, int], None] | None = None) -> list[Shot]:
    """``shots`` good single-face frames from a live source (camera, stream, video, folder),
    by :class:`ShotCapture`'s rule; FaceAppError naming the commonest problem when the source
    ends or ``SHOT_FRAME_BUDGET`` frames per shot pass first. ``on_shot(taken, frame_index)``."""
    from ..camera import open_source

    capture = ShotCapture(shots, min_interval_s)
    budget = SHOT_FRAME_BUDGET * shots
    read = 0
    with open_source(source_spec) as source:
        label = source.describe()
        for frame in source:
            read += 1
            step = capture.offer(pipeline.process(frame, keep_crops=True), f"{label} frame {frame.index}")
            if step.shot is not None and on_shot is not None:
                on_shot(len(capture.shots), frame.index)
            if capture.done or read >= budget:
                break
    if not capture.done:
        common = capture.problems.most_common(1)
        hint = f"; most common problem: {common[0][0]}" if common else ""
        if read < budget:  # the source ran out: say so, or the problem of a few frames takes the blame
            raise FaceAppError(f"{label}: it ended after {read} frames with {len(capture.shots)} of {shots} good "
                               f"shots (taken at least {min_interval_s:g} s apart){hint}; ask for fewer shots "
                               "or give a longer clip")
        raise FaceAppError(f"{label}: only {len(capture.shots)} of {shots} good shots in {read} frames{hint}")
    return capture.shots


# --- checks and storing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    name: str  # as stored
    added: int  # templates added now
    total: int  # the person's templates in all
    new_person: bool


def store_shots(db: Database, name: str, shots: Sequence[Shot], model_id: str, keep_thumbnail: bool = True,
                keep_crops: bool = True, threshold: float | None = None, cohort: Cohort | None = None) -> Enrolled:
    """Store ``shots`` as ``name``'s templates in one transaction (the person is created if
    needed; a failure leaves the database as it was). The best shot becomes the thumbnail.
    A shot :func:`screen_shots` refuses (with ``threshold``, also one unlike the person's other
    faces, judged with the model's ``cohort``) stores nothing: RefusedShotsError says which and why."""
    from ..images import encode_jpeg, encode_lossless

    if not shots:
        raise FaceAppError("nothing to enroll: no usable face")
    name = validate_name(name)
    new_person = not db.has_person(name)
    existing = None if new_person else db.store.templates_of(name, model_id)
    _, refused = screen_shots(shots, existing, threshold, cohort)
    if refused:
        raise RefusedShotsError("; ".join(refused) + "; nothing was enrolled")
    thumbnail = encode_jpeg(max(shots, key=lambda s: s.quality).crop, THUMBNAIL_QUALITY) if keep_thumbnail else None
    db.store.enroll(
        name,
        np.stack([s.encoding for s in shots]),
        model_id,
        sources=[s.source for s in shots],
        qualities=[s.quality for s in shots],
        thumbnail=thumbnail,
        crops=[encode_lossless(s.crop) for s in shots] if keep_crops else None,
    )
    info = db.person(name)
    return Enrolled(info.name, len(shots), info.templates, new_person)


# --- a folder of people -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportStep:
    """What happened to one identity folder of an import."""

    folder: Path
    name: str | None
    outcome: str  # "enrolled", "skipped" (already enrolled), "empty" (no usable image), "bad name"
    templates: int = 0
    messages: tuple[str, ...] = ()  # unusable images, unreadable folder, why a name is unusable
    unusable: int = 0  # images in the folder that could not be used


def identity_folders(root: Path) -> tuple[list[Path], list[Path]]:
    """The identity subfolders of an import folder, and the images lying loose in it."""
    from ..images import list_images

    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return folders, list_images(root)


def import_people(db: Database, pipeline: Pipeline, folders: Sequence[Path], largest: bool = False,
                  underscores_as_spaces: bool = False, keep_thumbnail: bool = True,
                  keep_crops: bool = True, threshold: float | None = None) -> Iterator[ImportStep]:
    """Enroll each folder's person, one transaction each, skipping people who already have
    templates of this model (so an interrupted import carries on where it stopped). Photos too
    poor to enroll, and with ``threshold`` those unlike the folder's other photos, are skipped
    with a message (:func:`screen_shots`)."""
    from ..images import list_images

    model_id = pipeline.model_id
    for folder in folders:
        raw = folder.name.replace("_", " ") if underscores_as_spaces else folder.name
        try:
            name = validate_name(raw)
        except FaceAppError as exc:
            yield ImportStep(folder, None, "bad name", messages=(f"{folder.name!r}: not a usable name ({exc}), skipping",))
            continue
        if db.has_person(name) and len(db.store.templates_of(name, model_id)):
            yield ImportStep(folder, name, "skipped", messages=(f"{name}: already enrolled, skipping",))
            continue
        messages: list[str] = []
        try:
            images = list_images(folder)
        except OSError as exc:
            images = []
            messages.append(f"{folder}: cannot read the folder ({exc.strerror or exc})")
        shots, problems = photo_shots(pipeline, images, largest)
        shots, refused = screen_shots(shots, None, threshold, pipeline.cohort)
        problems += refused
        messages += [f"skipped {p}" for p in problems]
        if not shots:
            yield ImportStep(folder, name, "empty", messages=(*messages, f"{name}: no usable image, not enrolled"),
                             unusable=len(problems))
            continue
        store_shots(db, name, shots, model_id, keep_thumbnail, keep_crops)
        yield ImportStep(folder, name, "enrolled", len(shots), tuple(messages), len(problems))
