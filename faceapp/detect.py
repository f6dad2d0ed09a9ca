"""Face detection: YuNet through ``cv2.FaceDetectorYN`` by default, a Haar cascade as a fallback.

``Detector.detect(image)`` returns every face in an RGB image of any size, as
:class:`~faceapp.types.Detection` (box, 5 landmarks, score), largest first.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import DetectorError
from .images import file_sha256
from .types import Detection

log = logging.getLogger(__name__)

YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
YUNET_FILENAME = "face_detection_yunet_2023mar.onnx"


class Detector(Protocol):
    name: str
    quality: str  # "high" or "low": shown to the user

    def detect(self, image: np.ndarray) -> list[Detection]: ...


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
        ]
        return sorted(found, key=lambda d: d.area, reverse=True)


class HaarDetector:
    """OpenCV's bundled Haar cascade: boxes only, landmarks estimated from the box.

    Markedly less accurate than YuNet (misses turned faces, rougher alignment); used only
    when no YuNet model can be found, and labelled as such wherever the detector is shown.
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


def find_yunet_model(explicit: str | Path | None = None, cache_dir: Path | None = None, download: bool = True) -> Path | None:
    """Where the YuNet ONNX file is: explicit path, $FACEAPP_DETECTOR_MODEL, user cache, or a download.

    A downloaded file is kept only if its sha256 matches the pinned one. Returns None when
    no file can be had (offline), so the caller can fall back.
    """
    for candidate in (explicit, os.environ.get("FACEAPP_DETECTOR_MODEL")):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise DetectorError(f"face detector model not found: {path}")
            return path
    if cache_dir is None:
        from .config import default_cache_dir

        cache_dir = default_cache_dir()
    cached = cache_dir / YUNET_FILENAME
    if cached.is_file() and file_sha256(cached) == YUNET_SHA256:
        return cached
    if not download:
        return None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".part")
        with urllib.request.urlopen(YUNET_URL, timeout=20) as response, open(partial, "wb") as out:
            out.write(response.read())
        if file_sha256(partial) != YUNET_SHA256:
            partial.unlink(missing_ok=True)
            log.warning("downloaded face detector has the wrong checksum; not used")
            return None
        partial.replace(cached)
        return cached
    except OSError as exc:
        log.warning("cannot download the face detector (%s)", exc)
        return None


def load_detector(
    model_path: str | Path | None = None,
    score_threshold: float = 0.6,
    max_side: int = 640,
    download: bool = True,
    cache_dir: Path | None = None,
) -> Detector:
    """YuNet when its model can be found; otherwise the Haar cascade, with a warning.

    ``cache_dir`` overrides the user cache folder searched (and downloaded into) for YuNet.
    """
    path = find_yunet_model(model_path, cache_dir=cache_dir, download=download)
    if path is None:
        log.warning(
            "YuNet face detector unavailable (offline and not cached); using OpenCV's Haar cascade, "
            "which finds fewer faces and aligns them less precisely. Set FACEAPP_DETECTOR_MODEL to a YuNet .onnx file."
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
