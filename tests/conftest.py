"""Shared pytest fixtures. Append new fixtures below; keep each one self-contained."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
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


def shared_path(shared_dir: Path, relative: str, what: str) -> Path:
    """A file or folder under ../shared, or a skip that says which one is missing."""
    path = shared_dir / relative
    if not path.exists():
        pytest.skip(f"{what} not found: {path}")
    return path


@pytest.fixture(scope="session")
def lfw_dir(shared_dir: Path) -> Path:
    """LFW view 1: one folder per person, named Firstname_Lastname, of 250x250 JPEGs."""
    return shared_path(shared_dir, "datasets/lfw-view1", "LFW")


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


# --- detector, shipped model and a tiny prepared training set (tests of the model and training) ---

# FACEAPP_TEST_MODEL points the tests at another model card than the shipped one.
ASSETS_CARD = Path(os.environ.get("FACEAPP_TEST_MODEL") or REPO_ROOT / "assets" / "faceapp-encoder.json")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread in tests: on a machine whose cores are busy with other work,
    torch's threads spin-wait on each other and a 15 ms forward pass can take over 600 ms.
    (Benchmarks measure the default threading.)"""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def yunet_model_path(shared_dir: Path) -> Path:
    """../shared/models/yunet.onnx: OpenCV's YuNet, the detector tests and benchmarks use."""
    return shared_path(shared_dir, "models/yunet.onnx", "YuNet model")


@pytest.fixture(scope="session")
def yunet_detector(yunet_model_path: Path):
    """A YuNetDetector on the shared model (session-wide: loading it costs ~50 ms)."""
    from faceapp.detect import YuNetDetector

    return YuNetDetector(yunet_model_path)


@pytest.fixture(scope="session")
def shipped_model_card() -> Path:
    """assets/faceapp-encoder.json, the shipped encoder's model card (its weights sit beside it)."""
    if not ASSETS_CARD.is_file():
        pytest.skip(f"the shipped model is not in the checkout yet ({ASSETS_CARD} missing): export one with 'python -m training export'")
    return ASSETS_CARD


@pytest.fixture(scope="session")
def teacher_npz(shared_dir: Path) -> Path:
    """../shared/datasets/teacher-dlib.npz: dlib encodings of the training images, keyed by path."""
    return shared_path(shared_dir, "datasets/teacher-dlib.npz", "teacher encodings")


TINY_PEOPLE = {  # dataset -> identity folders copied into the tiny set (none of them is in LFW)
    "pins": ["Alex_Lawther", "Alexandra_Daddario"],
    "glint-celeb": ["Hugh_Laurie"],
    "celeba-aligned": ["1", "10", "100", "1000"],  # split_holdout draws held-out people from CelebA
}
TINY_IMAGES_PER_PERSON = 5


@pytest.fixture(scope="session")
def tiny_prepared(shared_dir: Path, yunet_detector, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny real training set: 7 identities x 5 images copied from ../shared/datasets into
    ``root`` (same relative layout, so paths match teacher-dlib.npz), run through
    training.prepare.prepare with YuNet and saved as ``npz``. Returns a dict with root, npz,
    report, arrays and the names of the copied identities."""
    import shutil

    from training.prepare import prepare, save_dataset

    root = tmp_path_factory.mktemp("tiny-datasets")
    for dataset, people in TINY_PEOPLE.items():
        for person in people:
            source = shared_dir / "datasets" / dataset / person
            if not source.is_dir():
                pytest.skip(f"training images not found: {source}")
            target = root / dataset / person
            target.mkdir(parents=True)
            for image in list_images(source)[:TINY_IMAGES_PER_PERSON]:
                shutil.copy(image, target / image.name)
    arrays, report = prepare([root / d for d in TINY_PEOPLE], root, yunet_detector, progress=False)
    npz = root / "tiny.npz"
    save_dataset(npz, arrays)
    return {"root": root, "npz": npz, "report": report, "arrays": arrays, "people": TINY_PEOPLE}


@pytest.fixture(scope="session")
def lfw_crops(lfw_dir: Path, yunet_detector) -> np.ndarray:
    """Aligned 112x112 crops of three LFW photos: Abdullah Gul twice, then Aaron Guiel."""
    from faceapp.align import align_face
    from faceapp.images import load_image

    crops = []
    for name, number in (("Abdullah_Gul", 13), ("Abdullah_Gul", 14), ("Aaron_Guiel", 1)):
        image = load_image(lfw_dir / name / f"{name}_{number:04d}.jpg")
        crops.append(align_face(image, yunet_detector.detect(image)[0].landmarks))
    return np.stack(crops)
