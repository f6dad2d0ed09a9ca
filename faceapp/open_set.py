"""The open-set protocol (1:N with strangers): who is enrolled, who is not, and at what cost.

A folder laid out as ``gallery/<person>/`` (the photos each person is enrolled from),
``probe/<person>/`` (other photos of enrolled people) and ``unknown/`` (photos of people
who are not enrolled, in subfolders or not): the layout InsightFace's desktop studio reads
for its 1:N reports. Every probe and unknown face is matched against every gallery template
as the app identifies a face (its nearest person, the mean of their templates: ``faceapp.match``), and the report gives
the open-set curve: the share of probes *named correctly* (right person, within the
threshold) where the threshold rejects 90%, 95% and 99% of unknown faces, and at the app's
own threshold. The arithmetic is pure numpy over nearest distances, so tests check it by hand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .cohort import Cohort
from .errors import FaceAppError
from .images import is_image_path, list_images

REJECTION_LEVELS = (0.90, 0.95, 0.99)


@dataclass(frozen=True)
class OpenSetLayout:
    """The image paths of an open-set folder, by role; people sorted by name."""

    gallery: dict[str, tuple[Path, ...]]
    probes: dict[str, tuple[Path, ...]]
    unknown: tuple[Path, ...]

    @property
    def images(self) -> int:
        return sum(map(len, self.gallery.values())) + sum(map(len, self.probes.values())) + len(self.unknown)


def _people(folder: Path) -> dict[str, tuple[Path, ...]]:
    return {p.name: tuple(list_images(p)) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def read_open_set_layout(root: str | Path) -> OpenSetLayout:
    """The layout of ``root``, or a FaceAppError that says what is missing or misplaced."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FaceAppError(f"{root}: no such folder")
    for role in ("gallery", "probe", "unknown"):
        if not (root / role).is_dir():
            raise FaceAppError(f"{root}: no {role}/ folder (an open-set folder holds gallery/<person>/, probe/<person>/ and unknown/)")
    gallery, probes = _people(root / "gallery"), _people(root / "probe")
    if not gallery:
        raise FaceAppError(f"{root / 'gallery'}: holds no person folders (gallery/<person>/ with their enrollment photos)")
    empty = [name for name, paths in gallery.items() if not paths]
    if empty:
        raise FaceAppError(f"{root / 'gallery' / empty[0]}: holds no images to enroll {empty[0]!r} from")
    strangers = sorted(set(probes) - set(gallery))
    if strangers:
        raise FaceAppError(f"{root / 'probe' / strangers[0]}: {strangers[0]!r} has no gallery/ folder; "
                           "photos of people who are not enrolled go in unknown/")
    probes = {name: paths for name, paths in probes.items() if paths}
    unknown = tuple(sorted(p for p in (root / "unknown").rglob("*") if p.is_file() and is_image_path(p)
                           and not any(part.startswith(".") for part in p.relative_to(root).parts)))
    if not probes:
        raise FaceAppError(f"{root / 'probe'}: holds no images of enrolled people to identify")
    if not unknown:
        raise FaceAppError(f"{root / 'unknown'}: holds no images; the curve needs faces of people who are not enrolled")
    return OpenSetLayout(gallery, probes, unknown)


@dataclass(frozen=True)
class OperatingPoint:
    """One threshold's outcome: the share of unknown faces rejected, of probes named correctly
    (rank-1 within the threshold), and of probes given someone else's name. The rest of the
    probes were called unknown."""

    threshold: float
    rejected: float
    rank1: float
    wrong_name: float


def threshold_for_rejection(unknown_distances: np.ndarray, rejected: float) -> float:
    """The largest threshold that rejects at least ``rejected`` of the unknown faces (a face is
    named when its nearest person lies at a distance <= the threshold)."""
    ordered = np.sort(np.asarray(unknown_distances, float))
    named = int(math.floor((1 - rejected) * len(ordered) + 1e-9))  # unknown faces we may name
    if named >= len(ordered):
        return float(ordered[-1])
    return float(ordered[named]) - 1e-6  # just below the first one that must be rejected


def operating_point(probe_distances: np.ndarray, probe_correct: np.ndarray, unknown_distances: np.ndarray,
                    threshold: float) -> OperatingPoint:
    """Outcomes at ``threshold`` from each probe's and each unknown face's nearest person
    (its distance, and for probes whether that person is the right one)."""
    probe_distances, correct = np.asarray(probe_distances, float), np.asarray(probe_correct, bool)
    named = probe_distances <= threshold
    return OperatingPoint(
        threshold=float(threshold),
        rejected=float(np.mean(np.asarray(unknown_distances, float) > threshold)),
        rank1=float(np.mean(named & correct)),
        wrong_name=float(np.mean(named & ~correct)),
    )


@dataclass(frozen=True)
class OpenSetReport:
    people: int
    gallery_images: int
    probes: int
    unknowns: int
    detection_failures: int
    closed_set_rank1: float  # nearest person the right one, whatever the distance
    curve: tuple[OperatingPoint, ...]  # one per REJECTION_LEVELS entry
    at_threshold: OperatingPoint  # the model's own threshold

    def to_dict(self) -> dict:
        return asdict(self)


def open_set_report(probe_distances: np.ndarray, probe_correct: np.ndarray, unknown_distances: np.ndarray,
                    threshold: float, people: int = 0, gallery_images: int = 0, detection_failures: int = 0,
                    levels: tuple[float, ...] = REJECTION_LEVELS) -> OpenSetReport:
    curve = tuple(operating_point(probe_distances, probe_correct, unknown_distances,
                                  threshold_for_rejection(unknown_distances, level)) for level in levels)
    return OpenSetReport(
        people=people, gallery_images=gallery_images, probes=len(probe_distances), unknowns=len(unknown_distances),
        detection_failures=detection_failures, closed_set_rank1=float(np.mean(probe_correct)), curve=curve,
        at_threshold=operating_point(probe_distances, probe_correct, unknown_distances, threshold),
    )


def evaluate_open_set(layout: OpenSetLayout, crops: dict[Path, np.ndarray], embed: Callable[[np.ndarray], np.ndarray],
                      model_id: str, threshold: float, detection_failures: int = 0,
                      cohort: Cohort | None = None) -> OpenSetReport:
    """Enroll every gallery photo as one template of its person, identify every probe and
    unknown face against them all as the app does (judged with the model's ``cohort``), and
    score the outcomes."""
    from .match import Gallery, identify_many

    names = sorted(layout.gallery)
    gallery_paths = [path for name in names for path in layout.gallery[name]]
    owners = [number for number, name in enumerate(names) for _ in layout.gallery[name]]
    probe_paths = [path for name in sorted(layout.probes) for path in layout.probes[name]]
    truth = [names.index(name) for name in sorted(layout.probes) for _ in layout.probes[name]]
    encodings = embed(np.stack([crops[p] for p in (*gallery_paths, *probe_paths, *layout.unknown)]))
    gallery = Gallery(encodings[: len(gallery_paths)], np.array(owners), dict(enumerate(names)), model_id, cohort=cohort)
    # An infinite threshold names every face by its nearest person; the thresholds come after.
    probes = identify_many(encodings[len(gallery_paths) : len(gallery_paths) + len(probe_paths)], gallery, math.inf)
    unknown = identify_many(encodings[len(gallery_paths) + len(probe_paths) :], gallery, math.inf)
    return open_set_report(
        np.array([m.distance for m in probes]), np.array([m.person_id for m in probes]) == np.array(truth),
        np.array([m.distance for m in unknown]), threshold, len(names), len(gallery_paths), detection_failures,
    )


def prepare_open_set_images(layout: OpenSetLayout, detector, degrade_to: float | None = None
                            ) -> tuple[dict[Path, np.ndarray], list[str]]:
    """Aligned crops of every image in the layout (``faceapp.evaluate.photo_crop``: the central
    face, low-resolution where ``degrade_to`` says so) and the images where none was found."""
    from .evaluate import photo_crop
    from .images import load_image

    crops: dict[Path, np.ndarray] = {}
    failures: list[str] = []
    paths = [p for group in (layout.gallery, layout.probes) for ps in group.values() for p in ps] + list(layout.unknown)
    for path in paths:
        crops[path], found = photo_crop(load_image(path), detector, degrade_to=degrade_to)
        if not found:
            failures.append(str(path))
    return crops, failures
