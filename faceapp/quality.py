"""Face quality measures for enrollment: size, sharpness and how frontal a face is (pure), and
the encoder's own learned quality where its model card ships one (:class:`LearnedQuality`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .types import Detection

if TYPE_CHECKING:  # annotations only
    from .embed import Encoder

MIN_FACE_PIXELS = 64  # box side below which encodings get unreliable
MIN_SHARPNESS = 40.0  # variance of the Laplacian on the aligned crop
MAX_YAW = 0.35  # nose offset from the eye midpoint, relative to the eye distance


_CAMERA_HINTS = {
    "size": "move closer: the face is too small",
    "sharpness": "hold still: the image is blurred",
    "yaw": "look straight at the camera",
    "learned": "the encoder cannot read this face well: face the light, come closer, uncover the face",
}
_PHOTO_HINTS = {
    "size": "the face is small: a closer photo matches better",
    "sharpness": "the photo is blurred",
    "yaw": "the face is turned away: a frontal photo matches better",
    "learned": "the encoder cannot read this face well: a clearer, closer photo matches better",
}


@dataclass(frozen=True)
class LearnedQuality:
    """The encoder's own estimate of how far this face's encoding is from a clean shot's
    (``faceapp.embed.QualityHead``), with the model card's cut-offs for it. Pixels can look
    fine and still give a poor encoding (odd light, an occluder, a face the network has seen
    few like), and the other way round; only the encoder can tell, and only for itself, so
    the cut-offs travel with the value rather than living here. They are None unless the
    model card enforces them (its ``quality.enforce``)."""

    value: float
    enroll_min: float | None = None  # below it, not good enough to enroll (None: no such check)
    judge_min: float | None = None  # below it, no name is put on it (faceapp.decide.JudgeLimits; None: no check)


@dataclass(frozen=True)
class FaceQuality:
    size: float  # shorter box side in pixels
    sharpness: float
    yaw: float  # 0 = frontal
    score: float  # detector confidence
    learned: LearnedQuality | None = None  # where the encoder has a quality head

    def _failed(self) -> list[str]:
        """The checks this face fails, in a fixed order: 'size', 'sharpness', 'yaw', 'learned'."""
        failed = []
        if self.size < MIN_FACE_PIXELS:
            failed.append("size")
        if self.sharpness < MIN_SHARPNESS:
            failed.append("sharpness")
        if abs(self.yaw) > MAX_YAW:
            failed.append("yaw")
        learned = self.learned
        if learned is not None and learned.enroll_min is not None and learned.value < learned.enroll_min:
            failed.append("learned")
        return failed

    @property
    def problems(self) -> list[str]:
        """Human-readable hints for a person at a camera; empty when the face is good enough to enroll."""
        return [_CAMERA_HINTS[check] for check in self._failed()]

    @property
    def photo_problems(self) -> list[str]:
        """The same checks worded for a photo file, where nobody can move closer or hold still."""
        return [_PHOTO_HINTS[check] for check in self._failed()]

    @property
    def learned_value(self) -> float | None:
        """The encoder's learned quality, None where its card has no quality head."""
        return self.learned.value if self.learned is not None else None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def value(self) -> float:
        """One number in [0, 1] stored with each template: higher is better."""
        size = min(1.0, self.size / (2 * MIN_FACE_PIXELS))
        sharp = min(1.0, self.sharpness / (4 * MIN_SHARPNESS))
        frontal = max(0.0, 1 - abs(self.yaw) / (2 * MAX_YAW))
        return round(float(self.score * (size + sharp + frontal) / 3), 4)


def sharpness(crop: np.ndarray) -> float:
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def yaw(landmarks: np.ndarray) -> float:
    """Signed horizontal nose offset from the eyes' midpoint, in eye distances."""
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_distance = float(np.linalg.norm(right_eye - left_eye)) or 1.0
    return float((nose[0] - (left_eye[0] + right_eye[0]) / 2) / eye_distance)


def assess(detection: Detection, crop: np.ndarray, learned: LearnedQuality | None = None) -> FaceQuality:
    return FaceQuality(
        size=float(min(detection.box[2], detection.box[3])),
        sharpness=sharpness(crop),
        yaw=yaw(detection.landmarks),
        score=detection.score,
        learned=learned,
    )


def learned_qualities(encoder: Encoder, values: np.ndarray | None, count: int) -> list[LearnedQuality | None]:
    """``Encoder.embed_with_quality``'s values (Nones without a head), with the card's cut-offs
    where the card enforces them."""
    head = encoder.card.quality
    if values is None or head is None:
        return [None] * count
    enroll, judge = (head.enroll_min, head.judge_min) if head.enforce else (None, None)
    return [LearnedQuality(round(float(v), 4), enroll, judge) for v in values]
