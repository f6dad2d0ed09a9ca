"""The pairs protocol (LFW format): k-fold accuracy, ROC, TAR at FAR, calibrated thresholds.

Pure numpy over distances and same/different labels, so the CLI, training validation and
tests all score the same way. The face-finding part (:func:`prepare_pair_images`) uses the
app's own detect + align and counts every image where detection failed instead of
dropping its pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .cohort import Cohort
from .errors import FaceAppError

FAR_LEVELS = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class Pair:
    left: tuple[str, int]
    right: tuple[str, int]
    same: bool
    fold: int


def read_pairs(path: str | Path, folds: int = 10) -> list[Pair]:
    """Parse an LFW pairs file.

    A header ``"10 300"`` (View 2) means consecutive blocks of 300 same then 300 different
    pairs, one block per fold. A one-number header (View 1's ``pairsDevTest.txt``) has all
    same pairs first, so folds are assigned round-robin within each class instead.
    """
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise FaceAppError(f"{path}: cannot read pairs file ({exc.strerror})") from None
    except UnicodeDecodeError:  # a binary file given by mistake
        raise FaceAppError(f"{path}: not an LFW pairs file (not text)") from None
    if not lines or not all(tok.isdigit() for tok in lines[0]):
        raise FaceAppError(f"{path}: not an LFW pairs file (first line should be a count)")
    header, rows = [int(t) for t in lines[0]], lines[1:]
    pairs: list[Pair] = []
    seen = {True: 0, False: 0}
    block = 2 * header[1] if len(header) == 2 else None
    for number, row in enumerate(rows):
        try:
            if len(row) == 3:
                left, right, same = (row[0], int(row[1])), (row[0], int(row[2])), True
            elif len(row) == 4:
                left, right, same = (row[0], int(row[1])), (row[2], int(row[3])), False
            else:
                raise ValueError
        except ValueError:  # a wrong field count or an image number that is not a number
            raise FaceAppError(f"{path}: line {number + 2} is not 'name i j' or 'name1 i name2 j'") from None
        fold = number // block if block else seen[same] % folds
        seen[same] += 1
        pairs.append(Pair(left, right, same, fold))
    if not pairs:
        raise FaceAppError(f"{path}: holds no pairs")
    check_scorable(pairs, path)
    return pairs


def check_scorable(pairs: Sequence[Pair], source: str | Path = "pairs") -> None:
    """Refuse pairs the protocol cannot score: without both kinds there is no ROC or
    threshold, and with one fold there are no other folds to choose a threshold on."""
    same = sum(p.same for p in pairs)
    if same == 0 or same == len(pairs):
        kind = "different" if same else "same"
        raise FaceAppError(f"{source}: holds no {kind}-person pairs; scoring needs both kinds")
    if len({p.fold for p in pairs}) < 2:
        raise FaceAppError(f"{source}: all pairs fall in one fold; the threshold is chosen on the other folds, "
                           "so give at least 2 same and 2 different pairs")


def lfw_image_path(images_dir: Path, name: str, number: int) -> Path:
    return Path(images_dir) / name / f"{name}_{number:04d}.jpg"


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy, midway between neighbouring distances."""
    order = np.sort(np.unique(distances))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    # Vectorised: accuracy of every candidate at once via sorted cumulative counts.
    same_sorted = np.sort(distances[same])
    diff_sorted = np.sort(distances[~same])
    true_accepts = np.searchsorted(same_sorted, candidates, side="right")
    true_rejects = len(diff_sorted) - np.searchsorted(diff_sorted, candidates, side="right")
    return float(candidates[np.argmax(true_accepts + true_rejects)])


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float, float]:
    """Mean and std of per-fold accuracy, each threshold chosen on the other folds; and the
    threshold chosen on all pairs (reported, not used for the score)."""
    distances, same, folds = np.asarray(distances, float), np.asarray(same, bool), np.asarray(folds)
    scores = []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        scores.append(accuracy_at(distances[test], same[test], threshold))
    return float(np.mean(scores)), float(np.std(scores)), best_threshold(distances, same)


def roc_curve(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-accept rate, true-accept rate and threshold for every distinct threshold."""
    distances, same = np.asarray(distances, float), np.asarray(same, bool)
    thresholds = np.concatenate([[-np.inf], np.sort(np.unique(distances))])
    tar = np.searchsorted(np.sort(distances[same]), thresholds, side="right") / max(1, same.sum())
    far = np.searchsorted(np.sort(distances[~same]), thresholds, side="right") / max(1, (~same).sum())
    return far, tar, thresholds


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC: the probability a genuine pair is closer than an impostor pair."""
    far, tar, _ = roc_curve(distances, same)
    return float(np.trapezoid(tar, far))


def threshold_at_far(impostor_distances: np.ndarray, far: float) -> float:
    """The largest threshold whose false-accept rate on these impostor pairs is <= far."""
    ordered = np.sort(np.asarray(impostor_distances, float))
    # Impostors we may accept; the epsilon keeps e.g. 0.29 * 100 (28.999999999999996) at 29.
    allowed = int(np.floor(far * len(ordered) + 1e-9))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(ordered[allowed]) - 1e-6  # just below the first impostor we must reject


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """True-accept rate at the threshold where impostors are accepted at rate <= far."""
    distances, same = np.asarray(distances, float), np.asarray(same, bool)
    threshold = threshold_at_far(distances[~same], far)
    return float(np.mean(distances[same] <= threshold)), threshold


@dataclass(frozen=True)
class PairsReport:
    accuracy: float
    accuracy_std: float
    pairs: int
    threshold: float
    auc: float
    tar_at_far: dict[str, float]
    detection_failures: int
    images: int

    def to_dict(self) -> dict:
        return asdict(self)


def score_pairs(distances: np.ndarray, same: np.ndarray, folds: np.ndarray, detection_failures: int = 0, images: int = 0) -> PairsReport:
    accuracy, std, threshold = kfold_accuracy(distances, same, folds)
    tars = {f"{far:g}": tar_at_far(distances, same, far)[0] for far in FAR_LEVELS[:2]}
    return PairsReport(accuracy, std, int(len(distances)), threshold, roc_auc(distances, same), tars, detection_failures, images)


def pair_distances(pairs: Sequence[Pair], encodings: dict[tuple[str, int], np.ndarray],
                   cohort: Cohort | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances, labels and folds of the pairs, from encodings keyed by (name, number).

    With the model's ``cohort`` each distance is adjusted as the app adjusts a face's distance to
    an enrolled person; in a pair neither photo is the enrolled one, so both are judged: the
    pair's distance is the root mean square of its two one-sided adjusted distances."""
    left = np.stack([encodings[p.left] for p in pairs])
    right = np.stack([encodings[p.right] for p in pairs])
    distances = np.linalg.norm(left - right, axis=1)
    if cohort is not None:
        keys = sorted(encodings)  # each image's crowding once, however many pairs it is in
        crowding = dict(zip(keys, cohort.crowding(np.stack([encodings[k] for k in keys]))))
        one_sided = (cohort.adjust(distances, np.array([crowding[p.left] for p in pairs])),
                     cohort.adjust(distances, np.array([crowding[p.right] for p in pairs])))
        distances = np.sqrt((one_sided[0] ** 2 + one_sided[1] ** 2) / 2)
    return distances, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs])


def evaluate_pairs(
    pairs: Sequence[Pair],
    crops: dict[tuple[str, int], np.ndarray],
    embed: Callable[[np.ndarray], np.ndarray],
    detection_failures: int = 0,
    cohort: Cohort | None = None,
) -> PairsReport:
    """Embed every image's aligned crop once and score the pairs (adjusted by ``cohort``: :func:`pair_distances`)."""
    keys = sorted(crops)
    encodings = embed(np.stack([crops[k] for k in keys]))
    by_key = dict(zip(keys, encodings))
    distances, same, folds = pair_distances(pairs, by_key, cohort)
    return score_pairs(distances, same, folds, detection_failures, len(keys))


# LFW-style photos are centred on the person; when detection fails, this central fraction of
# the image roughly matches where the aligned template would have placed the face.
LFW_FALLBACK_FRACTION = 0.6


# The width of YuNet's face box on an aligned 112x112 crop: the app's template puts every face
# the same size, so a centre-cropped image's face width follows from the crop's share of it.
FACE_WIDTH_IN_CROP = 77.0


def shrink_and_enlarge(image: np.ndarray, scale: float) -> np.ndarray:
    """The image shrunk by ``scale`` (area averaging, as a sensor integrates light) and enlarged
    back to its size (bilinear): the detail a camera with fewer pixels on the face records."""
    import cv2

    if scale >= 1:
        return image
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def photo_crop(image: np.ndarray, detector, fallback_fraction: float = LFW_FALLBACK_FRACTION,
               degrade_to: float | None = None) -> tuple[np.ndarray, bool]:
    """The aligned crop of a photo's central face, as the app takes it from a photo, and whether
    a face was found (if not: a centre crop, which callers count and still score).

    ``degrade_to`` (pixels) first makes the photo low-resolution, as if the face had been
    ``degrade_to`` pixels wide (YuNet's box) on the sensor: the image is shrunk by that factor
    and enlarged back, then detected and aligned again like any photo. Faces already that small
    are left alone. Without a face to measure, the face is taken as the centre crop would place it.
    """
    from .align import align_face, center_crop_face
    from .detect import detect_in_crop, pick_central

    face = pick_central(detect_in_crop(detector, image), image.shape)
    if degrade_to is not None:
        width = face.box[2] if face is not None else fallback_fraction * min(image.shape[:2]) * FACE_WIDTH_IN_CROP / 112
        image = shrink_and_enlarge(image, degrade_to / width)
        face = pick_central(detect_in_crop(detector, image), image.shape)
    if face is None:
        return center_crop_face(image, fallback_fraction), False
    return align_face(image, face.landmarks), True


def prepare_pair_images(
    pairs: Sequence[Pair], images_dir: str | Path, detector, fallback_fraction: float = LFW_FALLBACK_FRACTION,
    degrade_to: float | None = None,
) -> tuple[dict[tuple[str, int], np.ndarray], list[str]]:
    """Aligned crops of every image the pairs name, and the images where no face was found.

    Those images are centre-cropped and still scored: a detection failure costs accuracy
    honestly instead of quietly shrinking the test set. A missing image file is an error.
    ``degrade_to``: see :func:`photo_crop`.
    """
    from .images import load_image

    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    crops: dict[tuple[str, int], np.ndarray] = {}
    failures: list[str] = []
    for key in keys:
        path = lfw_image_path(Path(images_dir), *key)
        crops[key], found = photo_crop(load_image(path), detector, fallback_fraction, degrade_to)
        if not found:
            failures.append(str(path))
    return crops, failures
