"""Shared pytest fixtures. Append new fixtures below; keep each one self-contained.

Real faces come from the repository itself (``tests/data/faces``, see its README) and the
detector is the one the app ships (``assets/yunet.onnx``), so every test that only needs
"some real faces" runs on a user's clone. Only tests that need the face datasets (LFW pairs,
training images, teacher encodings) read ``../shared``, and skip with a reason without it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.images import list_images, load_image

# Qt widgets outside tests/gui (the settings dialog in test_privacy.py) need no display either,
# whichever file runs alone; set before any QApplication exists.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
# FACEAPP_SHARED_DIR points the tests at the datasets folder elsewhere; a folder that does not
# exist (FACEAPP_SHARED_DIR=/nonexistent) runs the suite as a user's clone without it would.
SHARED_DIR = Path(os.environ.get("FACEAPP_SHARED_DIR") or REPO_ROOT.parent / "shared")
FACES_DIR = REPO_ROOT / "tests" / "data" / "faces"
SHIPPED_YUNET = REPO_ROOT / "assets" / "yunet.onnx"


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
    """../shared next to the repository (or $FACEAPP_SHARED_DIR): face datasets, not in git."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"the face datasets folder is not here ({SHARED_DIR}; set FACEAPP_SHARED_DIR to use another)")
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


# --- the in-repo faces (tests/data/faces) ---------------------------------------------------------

PERSON_E = "person-e"


@dataclass(frozen=True)
class RepoFaces:
    """The face photos in tests/data/faces, all 144x144 (so two fit side by side): person E from
    two clips, and three people from a doorway clip whose faces are small and in profile. E's
    photos from the two clips match each other at the card's default threshold and no doorway
    photo matches E's; the doorway people are not reliably told apart from each other, and fail
    the enrollment quality checks, so they only ever play "someone who is not E"."""

    hungry: tuple[Path, ...]  # E, from person-e-hungry.mkv
    want: tuple[Path, ...]  # E, from person-e-want.mkv
    others: dict[str, tuple[Path, ...]]  # doorway-1..3 -> their photos

    @property
    def e(self) -> tuple[Path, ...]:
        return self.hungry + self.want

    @property
    def stranger(self) -> Path:
        """The doorway photo the detector finds most surely, also letterboxed into a video frame."""
        return self.others["doorway-1"][0]

    @property
    def people(self) -> dict[str, tuple[Path, ...]]:
        """Folder name -> photos, E first."""
        return {PERSON_E: self.e, **self.others}


@pytest.fixture(scope="session")
def repo_faces() -> RepoFaces:
    """The in-repo photos, read from tests/data/faces (its README says where each came from)."""
    e = list_images(FACES_DIR / PERSON_E)
    others = {d.name: tuple(list_images(d)) for d in sorted(FACES_DIR.iterdir()) if d.is_dir() and d.name != PERSON_E}
    faces = RepoFaces(
        hungry=tuple(p for p in e if p.name.startswith("hungry")),
        want=tuple(p for p in e if p.name.startswith("want")),
        others=others,
    )
    assert faces.hungry and faces.want and len(others) >= 2, f"the test photos in {FACES_DIR} are incomplete"
    return faces


@pytest.fixture(scope="session")
def faces_lfw_layout(repo_faces: RepoFaces, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The in-repo faces copied into LFW's layout, ``Name/Name_0001.jpg`` (``Person_E``, E's
    hungry photos first, then ``Doorway_1`` ...), for the code that reads LFW-style pairs."""
    root = tmp_path_factory.mktemp("faces-lfw-layout")
    for folder, photos in repo_faces.people.items():
        name = lfw_name(folder)
        (root / name).mkdir()
        for number, photo in enumerate(photos, 1):
            shutil.copy(photo, root / name / f"{name}_{number:04d}.jpg")
    return root


def lfw_name(folder: str) -> str:
    """``person-e`` -> ``Person_E``, ``doorway-1`` -> ``Doorway_1``: the in-repo folder's name in LFW's style."""
    return "_".join(part.capitalize() for part in folder.split("-"))


def repo_pairs(repo_faces: RepoFaces, per_class: int) -> tuple[list, list]:
    """``per_class`` same-person and different-person pairs of the in-repo faces, as pairs of LFW
    keys ``(name, number)`` of ``faces_lfw_layout``, spread over all the photos. Each same pair
    is one photo of E from each clip; each different pair is E against a doorway person,
    because the doorway faces are not told apart from each other reliably."""
    e, hungry, want = lfw_name(PERSON_E), len(repo_faces.hungry), len(repo_faces.want)
    doorway = [(lfw_name(folder), n) for folder, photos in repo_faces.others.items() for n in range(1, len(photos) + 1)]
    all_same = [((e, h), (e, hungry + w)) for w in range(1, want + 1) for h in range(1, hungry + 1)]
    all_different = [((e, n), other) for other in doorway for n in range(1, hungry + want + 1)]
    if per_class > min(len(all_same), len(all_different)):
        raise ValueError(f"the in-repo faces make at most {min(len(all_same), len(all_different))} pairs of each kind")
    return all_same[:: len(all_same) // per_class][:per_class], all_different[:: len(all_different) // per_class][:per_class]


def write_pairs_file(path: Path, same: list, different: list) -> Path:
    """A pairs file in LFW View 1's format (the count per class, then same, then different pairs)."""
    rows = [f"{a[0]}\t{a[1]}\t{b[1]}" for a, b in same] + [f"{a[0]}\t{a[1]}\t{b[0]}\t{b[1]}" for a, b in different]
    path.write_text("\n".join([str(len(same)), *rows]) + "\n")
    return path


FACE_VIDEO_PEOPLE = 4  # people in face_video, each shown for FACE_VIDEO_REPEATS frames
FACE_VIDEO_REPEATS = 3


@pytest.fixture(scope="session")
def face_video_photos(repo_faces: RepoFaces) -> list[Path]:
    """The photos face_video shows, one per person: E first, then each doorway person."""
    photos = [repo_faces.hungry[0], *(photos[0] for photos in repo_faces.others.values())][:FACE_VIDEO_PEOPLE]
    assert len(photos) == FACE_VIDEO_PEOPLE
    return photos


@pytest.fixture(scope="session")
def face_video(face_video_photos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame 640x480 10 fps MJPG .avi: one in-repo photo of each of 4 people
    (``face_video_photos``, E first), 3 frames each."""
    return write_video(
        tmp_path_factory.mktemp("video") / "faces.avi", face_video_photos, fps=10, size=(640, 480), repeats=FACE_VIDEO_REPEATS
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
def yunet_model_path() -> Path:
    """assets/yunet.onnx: the YuNet model the app ships, so the tests use the app's own detector."""
    return SHIPPED_YUNET


@pytest.fixture(scope="session")
def yunet_detector(yunet_model_path: Path):
    """A YuNetDetector on the shipped model (session-wide, loaded once)."""
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


def aligned_crops(photos: Iterable[Path], detector) -> np.ndarray:
    """The aligned 112x112 crop of the (largest) face of each photo."""
    from faceapp.align import align_face

    crops = []
    for photo in photos:
        image = load_image(photo)
        crops.append(align_face(image, detector.detect(image)[0].landmarks))
    return np.stack(crops)


@pytest.fixture(scope="session")
def face_crops(repo_faces: RepoFaces, yunet_detector) -> np.ndarray:
    """Aligned 112x112 crops of three in-repo photos: E twice (one from each clip), then a
    doorway person."""
    return aligned_crops([repo_faces.hungry[0], repo_faces.want[0], repo_faces.stranger], yunet_detector)


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


@pytest.fixture(scope="session")
def shipped_pipeline(yunet_detector, shipped_model_card: Path):
    """The app's own pipeline: the shipped YuNet and encoder on the CPU (session-wide)."""
    from faceapp.embed import load_encoder
    from faceapp.pipeline import Pipeline

    return Pipeline(yunet_detector, load_encoder(shipped_model_card, device="cpu"))


def moving_face_video(path: Path, photo: Path, frames: int = 20, step: int = 12, covered: tuple[int, ...] = (),
                      size: tuple[int, int] = (640, 480)) -> Path:
    """A real face walking across a frame: ``photo`` pasted ``step`` pixels further right in each
    of ``frames`` frames, on grey, with a flat grey hand over the whole face in the ``covered``
    frames (so the detector loses it there). Written as an MJPG .avi like ``write_video``."""
    face = load_image(photo)
    h, w = face.shape[:2]
    images = []
    for index in range(frames):
        canvas = np.full((size[1], size[0], 3), 110, np.uint8)
        x, y = 20 + index * step, (size[1] - h) // 2
        canvas[y : y + h, x : x + w] = face
        if index in covered:
            canvas[y : y + h, x : x + w] = 90
        images.append(canvas)
    return write_video(path, images, fps=10, size=size)


# --- the CLI on a database of its own (tests/test_cli_events.py, tests/test_cli_unknowns.py) ---


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def isolated_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the user's environment, and a default database that is never the real one."""
    for name in ("FACEAPP_DETECTOR_MODEL", "FACEAPP_MODEL", "FACEAPP_DB_KEY", "FACEAPP_RETENTION_DAYS", "FACEAPP_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEAPP_DB", str(tmp_path / "default-never-used.db"))


@pytest.fixture
def tmp_cli(isolated_cli_env: None, tmp_path: Path, shipped_model_card: Path, capsys: pytest.CaptureFixture):
    """``run(*args)``: faceapp's main() on ``tmp_path/faceapp.db`` with the shipped model."""
    from faceapp.cli import main

    def run(*args: object) -> CliResult:
        code = main(["--db", str(tmp_path / "faceapp.db"), "--model", str(shipped_model_card),
                     *(str(a) for a in args)])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
