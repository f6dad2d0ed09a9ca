"""Shared pytest fixtures. Append new fixtures below; keep each one self-contained."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.images import list_images, load_image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale an RGB image to fit ``size`` (width, height) keeping its aspect, centred on black."""
    width, height = size
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    canvas[y : y + new_h, x : x + new_w] = resized
    return canvas


def write_video(
    path: str | Path,
    images: Iterable[np.ndarray | str | Path],
    fps: float = 10,
    size: tuple[int, int] = (640, 480),
    repeats: int = 1,
) -> Path:
    """Write RGB images (arrays or image paths) as an MJPG .avi, each letterboxed to ``size``
    (width, height) and held for ``repeats`` frames; returns the path. Real recorded video
    lets tests drive the camera code without a webcam."""
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), size)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    count = 0
    try:
        for item in images:
            rgb = item if isinstance(item, np.ndarray) else load_image(item)
            bgr = cv2.cvtColor(letterbox(rgb, size), cv2.COLOR_RGB2BGR)
            for _ in range(repeats):
                writer.write(bgr)
                count += 1
    finally:
        writer.release()
    if count == 0:
        raise ValueError("write_video needs at least one image")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the repository: face datasets and models, not in git."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared (face datasets) not found: {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def lfw_dir(shared_dir: Path) -> Path:
    """LFW view 1: one folder per person, named Firstname_Lastname, of 250x250 JPEGs."""
    path = shared_dir / "datasets" / "lfw-view1"
    if not path.is_dir():
        pytest.skip(f"LFW not found: {path}")
    return path


FACE_VIDEO_PEOPLE = 4  # people in face_video, each shown for FACE_VIDEO_REPEATS frames
FACE_VIDEO_REPEATS = 3


@pytest.fixture(scope="session")
def face_video(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame 640x480 10 fps MJPG .avi: the first photo of the first 4 LFW people (by name),
    3 frames each."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:FACE_VIDEO_PEOPLE]
    photos = [list_images(person)[0] for person in people]
    return write_video(
        tmp_path_factory.mktemp("video") / "faces.avi", photos, fps=10, size=(640, 480), repeats=FACE_VIDEO_REPEATS
    )
