"""Alignment: image + 5 landmarks -> 112x112 RGB crop (pure functions).

The template is the widely used 5-point layout for 112x112 face crops (eyes, nose tip,
mouth corners). The app, evaluation and training all call :func:`align_face`, so the
encoder always sees faces placed the same way.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 112

# (x, y) in a 112x112 crop: image-left eye, image-right eye, nose, left and right mouth corner.
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping src points onto dst.

    Umeyama's closed form; returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # forbid reflections
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (s * sign).sum() / src_c.var(0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Warp ``image`` so that ``landmarks`` (5, 2) land on the template; returns (size, size, 3)."""
    matrix = similarity_transform(landmarks, TEMPLATE * (size / CROP_SIZE))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def center_crop_face(image: np.ndarray, fraction: float = 1.0, size: int = CROP_SIZE) -> np.ndarray:
    """Fallback for images that are already face-centred crops when detection finds nothing.

    Takes the central square covering ``fraction`` of the shorter side and resizes it to
    ``size``. Good for loosely aligned datasets (CelebA, ArcFace crops); callers must count
    and report every use, since the face is only approximately placed.
    """
    h, w = image.shape[:2]
    side = max(1, int(round(min(h, w) * fraction)))
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
