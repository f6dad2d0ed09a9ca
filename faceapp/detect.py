"""Face detection: YuNet through ``cv2.FaceDetectorYN`` by default, a Haar cascade as a fallback.

``Detector.detect(image)`` returns every face in an RGB image of any size, as
:class:`~faceapp.types.Detection` (box, 5 landmarks, score), largest first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .config import assets_dir
from .errors import DetectorError
from .images import file_sha256
from .types import Detection

log = logging.getLogger(__name__)

# The YuNet file shipped in assets/ (see assets/yunet-LICENSE.txt): pinned, so a truncated or
# altered copy is recognised as a broken install instead of failing obscurely inside OpenCV.
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


class Detector(Protocol):
    name: str
    quality: str  # "high" or "low": shown to the user

    def detect(self, image: np.ndarray) -> list[Detection]: ...


# A side of 32 px or less (after the downscale to max_side) is one stride-32 cell for YuNet,
# which then answers with rows of 1e30, inf or made-up faces, depending on what the network ran
# before; from 33 px up it never did. Such an input is padded to this.
MIN_INPUT_SIDE = 64


class YuNetDetector:
    """OpenCV's YuNet: boxes, 5 landmarks and scores for faces of any size.

    Large frames are downscaled to ``max_side`` before detection (YuNet's cost grows with
    pixels, and faces a webcam user cares about stay well above its minimum size).
    """

    name = "yunet"
    quality = "high"

    def __init__(self, model_path: str | Path, score_threshold: float = 0.6, max_side: int = 640) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise DetectorError(f"face detector model not found: {model_path}")
        try:
            self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, 0.3, 5000)
            # Another valid ONNX graph loads fine and only fails on its first frame: try one now,
            # so a wrong file is refused here with a clear message, not mid-stream.
            self._net.detect(np.zeros((320, 320, 3), np.uint8))
        except cv2.error as exc:
            raise DetectorError(f"cannot load face detector model {model_path}: it is damaged or not YuNet") from exc
        self.model_path = model_path
        self.max_side = max_side
        self._size: tuple[int, int] | None = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) <= 32:  # YuNet returns garbage rows there: pad, do not stretch
            small = cv2.copyMakeBorder(small, 0, max(0, MIN_INPUT_SIDE - small.shape[0]), 0,
                                       max(0, MIN_INPUT_SIDE - small.shape[1]), cv2.BORDER_CONSTANT, value=0)
        sh, sw = small.shape[:2]
        if self._size != (sw, sh):
            self._net.setInputSize((sw, sh))
            self._size = (sw, sh)
        _, rows = self._net.detect(np.ascontiguousarray(small[:, :, ::-1]))  # YuNet wants BGR
        if rows is None:
            return []
        found = [
            Detection(
                box=tuple(float(v) / scale for v in row[:4]),
                landmarks=(row[4:14].reshape(5, 2) / scale).astype(np.float32),
                score=float(row[14]),
            )
            for row in rows
            if plausible_row(row, sw, sh)
        ]
        return sorted(found, key=lambda d: d.area, reverse=True)


def plausible_row(row: np.ndarray, width: int, height: int) -> bool:
    """Whether a YuNet output row is a face at all: finite numbers, a box of at least 2 px a
    side that overlaps the ``width`` x ``height`` input. Degenerate inputs (a strip a few
    pixels tall) have given rows of 1e30 and inf with score 1, which must never reach a user."""
    if not np.all(np.isfinite(row[:15])):
        return False
    x, y, w, h = (float(v) for v in row[:4])
    return w >= 2 and h >= 2 and x < width and y < height and x + w > 0 and y + h > 0


class HaarDetector:
    """OpenCV's bundled Haar cascade: boxes only, landmarks estimated from the box.

    Markedly less accurate than YuNet (misses turned faces, rougher alignment); used only
    when the shipped YuNet model is missing or damaged, and labelled as such wherever the
    detector is shown.
    """

    name = "haar-cascade"
    quality = "low"

    def __init__(self) -> None:
        path = Path(getattr(cv2, "data", None).haarcascades if hasattr(cv2, "data") else "") / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DetectorError("no face detector available: YuNet model missing and OpenCV has no Haar cascade")

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        # Typical landmark positions within a Haar box, as fractions of its width and height.
        layout = np.array([[0.31, 0.40], [0.69, 0.40], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]], np.float32)
        found = [
            Detection(box=(float(x), float(y), float(w), float(h)), landmarks=(layout * [w, h] + [x, y]).astype(np.float32), score=0.5)
            for (x, y, w, h) in (boxes if len(boxes) else [])
        ]
        return sorted(found, key=lambda d: d.area, reverse=True)


def shipped_yunet_path() -> Path:
    """``assets/yunet.onnx``, beside the shipped model card, so the detector works offline from
    the first launch."""
    return assets_dir() / "yunet.onnx"


def find_yunet_model(explicit: str | Path | None = None, shipped: str | Path | None = None) -> Path | None:
    """Where the YuNet ONNX file is: ``explicit`` (``--detector-model``), then
    $FACEAPP_DETECTOR_MODEL, then the copy shipped in ``assets/``.

    A path the user named must exist (DetectorError otherwise): falling back silently would
    hide their mistake. The shipped copy is used only if its sha256 is the pinned one; when it
    is missing or damaged (a broken install) this returns None, so the caller can fall back.
    ``shipped`` replaces the shipped path (tests use it to simulate a broken install).
    """
    for candidate in (explicit, os.environ.get("FACEAPP_DETECTOR_MODEL")):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise DetectorError(f"face detector model not found: {path}")
            return path
    path = Path(shipped) if shipped is not None else shipped_yunet_path()
    if not path.is_file():
        log.warning("the face detector shipped with faceapp is missing: %s", path)
        return None
    if file_sha256(path) != YUNET_SHA256:
        log.warning("the face detector shipped with faceapp is damaged (wrong sha256): %s", path)
        return None
    return path


def load_detector(
    model_path: str | Path | None = None,
    score_threshold: float = 0.6,
    max_side: int = 640,
    shipped: str | Path | None = None,
) -> Detector:
    """YuNet from ``find_yunet_model``; the Haar cascade, with a warning, only when the shipped
    copy is missing or damaged. ``shipped`` is passed on to ``find_yunet_model``."""
    path = find_yunet_model(model_path, shipped=shipped)
    if path is None:
        log.warning(
            "YuNet face detector unavailable (the copy shipped in assets/ is missing or damaged: reinstall faceapp); "
            "using OpenCV's Haar cascade, which finds fewer faces and aligns them less precisely. "
            "Set FACEAPP_DETECTOR_MODEL to a YuNet .onnx file."
        )
        return HaarDetector()
    return YuNetDetector(path, score_threshold, max_side)


def pick_central(detections: list[Detection], image_shape: tuple[int, ...]) -> Detection | None:
    """The face whose box centre is nearest the image centre (LFW-style photos of one person)."""
    if not detections:
        return None
    cy, cx = image_shape[0] / 2, image_shape[1] / 2

    def offset(d: Detection) -> float:
        x, y, w, h = d.box
        return (x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2

    return min(detections, key=offset)


def detect_in_crop(detector: Detector, image: np.ndarray, pad_fraction: float = 0.5) -> list[Detection]:
    """Detect faces in an image that may be a tight face crop.

    Detectors miss faces that fill the whole frame, so when nothing is found the image is
    padded with a replicated border and searched again; coordinates are mapped back.
    """
    found = detector.detect(image)
    if found:
        return found
    h, w = image.shape[:2]
    py, px = int(h * pad_fraction), int(w * pad_fraction)
    padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return [
        Detection(
            box=(d.box[0] - px, d.box[1] - py, d.box[2], d.box[3]),
            landmarks=d.landmarks - np.array([px, py], np.float32),
            score=d.score,
        )
        for d in detector.detect(padded)
    ]
