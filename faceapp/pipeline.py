"""The pipeline, stage by stage: frame -> detect -> align -> embed -> match.

:class:`Pipeline` owns a detector and an encoder (both injected) and composes the pure stage
functions; the application layer (``faceapp.app``) drives it for both front ends. It holds no
threshold: the caller passes the one its configuration resolved to every matching call, so a
changed setting can never be half applied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .align import align_face
from .cohort import Cohort
from .detect import Detector, detect_in_crop, load_detector, pick_central
from .embed import Encoder, load_encoder
from .errors import MultipleFacesError, NoFaceError
from .match import Gallery, identify_many
from .quality import FaceQuality, LearnedQuality, assess, learned_qualities
from .types import Detection, FaceResult, Frame, FrameResult, Match


@dataclass(frozen=True)
class EncodedFace:
    detection: Detection
    crop: np.ndarray
    encoding: np.ndarray
    quality: FaceQuality  # its ``learned`` is the encoder's own quality, where the card has a head


class Pipeline:
    """Detector + encoder. ``process`` handles frames, ``encode_one`` photos."""

    def __init__(self, detector: Detector, encoder: Encoder) -> None:
        self.detector = detector
        self.encoder = encoder

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def cohort(self) -> Cohort | None:
        """The encoder's cohort, which every gallery of this model is judged with (``Gallery.with_cohort``)."""
        return self.encoder.cohort

    def find_faces(self, image: np.ndarray, still: bool = False) -> list[Detection]:
        """Every face, largest first. Still photos also get the padded retry that finds faces
        filling the whole image (passport-style crops); live frames skip it for speed."""
        return detect_in_crop(self.detector, image) if still else self.detector.detect(image)

    def embed_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, list[LearnedQuality | None]]:
        """Encodings of aligned ``crops`` ((0, D) for none) and each one's learned quality (None
        where the card has no quality head), with the card's cut-offs where it enforces them."""
        if not crops:
            return np.zeros((0, self.encoder.dim), np.float32), []
        encodings, values = self.encoder.embed_with_quality(np.stack(crops))
        return encodings, learned_qualities(self.encoder, values, len(crops))

    def encode(self, image: np.ndarray, detections: list[Detection]) -> list[EncodedFace]:
        crops = [align_face(image, d.landmarks) for d in detections]
        encodings, learned = self.embed_crops(crops)
        return [EncodedFace(d, c, e, assess(d, c, q)) for d, c, e, q in zip(detections, crops, encodings, learned)]

    def encode_one(self, image: np.ndarray, largest: bool = False, label: str = "image") -> EncodedFace:
        """The single face of an enrollment or verification photo.

        No face raises NoFaceError; several raise MultipleFacesError unless ``largest``.
        """
        faces = self.find_faces(image, still=True)
        if not faces:
            raise NoFaceError(f"{label}: no face found")
        if len(faces) > 1 and not largest:
            raise MultipleFacesError(f"{label}: {len(faces)} faces found; use a photo of one person (or --largest on the command line)")
        return self.encode(image, faces[:1])[0]

    def encode_central(self, image: np.ndarray) -> EncodedFace | None:
        """The face a photo was taken of: the most central one (``pick_central``), else the
        first found; None when the photo shows no face. For benchmark and evaluation folders,
        where a photo of one person may show others at its edges."""
        faces = self.find_faces(image, still=True)
        face = pick_central(faces, image.shape) or (faces[0] if faces else None)
        return self.encode(image, [face])[0] if face is not None else None

    def process(self, frame: Frame, gallery: Gallery | None = None, threshold: float | None = None,
                keep_crops: bool = False) -> FrameResult:
        """Detect, align, embed and identify every face in a frame, timing each stage.
        A non-empty ``gallery`` needs the ``threshold`` to match under."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        detections = self.find_faces(frame.image, still=frame.path is not None)
        timings["detect"] = _ms_since(started)
        started = time.perf_counter()
        crops = [align_face(frame.image, d.landmarks) for d in detections]
        timings["align"] = _ms_since(started)
        started = time.perf_counter()
        encodings = self.encoder.embed(np.stack(crops)) if crops else np.zeros((0, self.encoder.dim), np.float32)
        timings["embed"] = _ms_since(started)
        started = time.perf_counter()
        if gallery is not None and len(gallery):
            if threshold is None:
                raise ValueError("matching against a gallery needs a threshold")
            matches = identify_many(encodings, gallery, threshold)
        else:
            matches = [Match(None, float("inf"), False) for _ in detections]
        timings["match"] = _ms_since(started)
        faces = tuple(
            FaceResult(d, m, c if keep_crops else None, e) for d, m, c, e in zip(detections, matches, crops, encodings)
        )
        return FrameResult(frame, faces, timings)

    def run(self, frames: Iterable[Frame], gallery: Gallery | None = None, threshold: float | None = None,
            keep_crops: bool = False) -> Iterator[FrameResult]:
        for frame in frames:
            yield self.process(frame, gallery, threshold, keep_crops)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def open_pipeline(
    model_path: str | Path,
    detector_model: str | Path | None = None,
    device: str = "auto",
    detection_score: float = 0.6,
    max_detect_side: int = 640,
    threads: int | None = None,
) -> Pipeline:
    """Load the detector and encoder named by these settings values. ``threads`` caps OpenCV's
    threads (process-wide) and the encoder's; None leaves one per core."""
    if threads:
        import cv2

        cv2.setNumThreads(threads)
    detector = load_detector(detector_model, detection_score, max_detect_side)
    return Pipeline(detector, load_encoder(model_path, device, threads=threads))
