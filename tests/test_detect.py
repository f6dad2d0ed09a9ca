"""Specification of faceapp.detect: YuNet on real photos, finding its model, the Haar fallback."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import RepoFaces
from faceapp.detect import (
    YUNET_SHA256,
    HaarDetector,
    YuNetDetector,
    detect_in_crop,
    find_yunet_model,
    load_detector,
    pick_central,
    shipped_yunet_path,
)
from faceapp.errors import DetectorError
from faceapp.images import file_sha256, load_image
from faceapp.types import Detection

DETECTOR_ENV = "FACEAPP_DETECTOR_MODEL"
# A CelebA crop so tight that YuNet finds nothing until the image is padded (YuNet finds the
# in-repo faces even when cropped to their box, so this one needs the dataset).
TIGHT_CROP = ("celeba-aligned", "10021", "020344.webp")


@pytest.fixture(scope="module")
def photo(repo_faces: RepoFaces) -> np.ndarray:
    """A 144x144 in-repo photo of person E, cut around his face."""
    return load_image(repo_faces.hungry[0])


def inside(points: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return bool(np.all((points[:, 0] >= x) & (points[:, 0] <= x + w) & (points[:, 1] >= y) & (points[:, 1] <= y + h)))


def assert_plausible_face(face: Detection) -> None:
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]  # image-left first
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])  # eyes above mouth


# -- YuNet -------------------------------------------------------------------------------------


@pytest.mark.parametrize("height", [1, 8, 20, 33, 50])
def test_yunet_finds_nothing_in_a_strip_too_thin_for_it_every_time(height: int, yunet_detector: YuNetDetector) -> None:
    # Unpadded (or padded only to 32 px), such strips gave rows of 1e30 and inf or made-up faces,
    # depending on what the network had run before: a real frame comes between the strips here.
    strip = np.full((height, 1000, 3), 128, np.uint8)  # 1000 wide: downscaled to 640 first
    found = []
    for trial in range(12):  # plain frames of two sizes between the strips: the input size changes each time
        width = 640 if trial % 2 else 320
        yunet_detector.detect(np.full((480, width, 3), 100 + trial, np.uint8))
        found.append(len(yunet_detector.detect(strip)))
    assert found == [0] * 12


def test_yunet_still_finds_a_face_that_fills_a_thin_image(photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    small = cv2.resize(photo, (40, 40), interpolation=cv2.INTER_AREA)  # padded to 32 neither way: found as before
    wide = np.concatenate([np.full((40, 300, 3), 110, np.uint8), small, np.full((40, 300, 3), 110, np.uint8)], axis=1)
    (face,) = yunet_detector.detect(wide)
    x, y, w, h = face.box
    assert 290 < x < 340 and 0 <= y and w > 10 and np.all(np.isfinite(face.landmarks))


def test_yunet_finds_the_one_face_of_a_photo(photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    faces = yunet_detector.detect(photo)
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= 0.6
    assert inside(face.landmarks, face.box)
    assert_plausible_face(face)
    x, y, w, h = face.box  # the photo is cut around the face (moved down where the frame ended), about half as wide
    assert abs(x + w / 2 - 72) < 20 and abs(y + h / 2 - 72) < 25 and 40 < w < 110
    assert yunet_detector.name == "yunet" and yunet_detector.quality == "high"


def test_yunet_maps_boxes_back_from_a_downscaled_large_frame(photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    # A 1500 px frame is detected at max_side 640: the result must be the 640 px detection
    # scaled back up to 1500 px coordinates.
    big = cv2.resize(photo, (1500, 1500), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA)
    (big_face,) = yunet_detector.detect(big)
    (small_face,) = yunet_detector.detect(small)
    factor = 1500 / 640
    np.testing.assert_allclose(np.array(big_face.box), np.array(small_face.box) * factor, rtol=1e-4)
    np.testing.assert_allclose(big_face.landmarks, small_face.landmarks * factor, rtol=1e-4)
    assert big_face.box[2] > 1500 / 3  # in the big frame's pixels (the face is about half the photo's width)


def test_yunet_finds_nothing_on_a_blank_image(yunet_detector: YuNetDetector) -> None:
    assert yunet_detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert yunet_detector.detect(np.full((112, 112, 3), 128, np.uint8)) == []
    assert detect_in_crop(yunet_detector, np.full((112, 112, 3), 128, np.uint8)) == []


def test_yunet_returns_several_faces_largest_first(repo_faces: RepoFaces, yunet_detector: YuNetDetector) -> None:
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[100:350, 20:270] = cv2.resize(load_image(repo_faces.hungry[0]), (250, 250), interpolation=cv2.INTER_CUBIC)
    canvas[200:350, 400:550] = cv2.resize(load_image(repo_faces.want[0]), (150, 150), interpolation=cv2.INTER_CUBIC)
    faces = yunet_detector.detect(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] < 270 < 400 <= faces[1].box[0] + faces[1].box[2]


def test_detect_in_crop_finds_a_tight_celeba_crop_by_padding(shared_dir: Path, yunet_detector: YuNetDetector) -> None:
    crop = load_image(shared_dir.joinpath("datasets", *TIGHT_CROP))
    assert crop.shape == (112, 112, 3)
    assert yunet_detector.detect(crop) == []  # the face fills the frame: missed as is
    faces = detect_in_crop(yunet_detector, crop)
    assert len(faces) == 1
    assert_plausible_face(faces[0])
    # Coordinates are mapped back into the crop: the eyes are in it, around the upper middle.
    eyes = faces[0].landmarks[:2]
    assert np.all((eyes >= 0) & (eyes < 112)) and np.all(eyes[:, 1] < 70)


def test_detect_in_crop_returns_direct_detections_unchanged(photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    (direct,) = yunet_detector.detect(photo)
    (via,) = detect_in_crop(yunet_detector, photo)
    assert via.box == direct.box and np.array_equal(via.landmarks, direct.landmarks)


def test_pick_central_prefers_the_face_nearest_the_centre() -> None:
    def at(x: float, y: float, w: float) -> Detection:
        return Detection((x, y, w, w), np.zeros((5, 2), np.float32), 0.9)

    big_corner, small_centre = at(0, 0, 120), at(100, 100, 50)
    assert pick_central([big_corner, small_centre], (250, 250, 3)) is small_centre
    assert pick_central([], (250, 250, 3)) is None


# -- finding the YuNet model ---------------------------------------------------------------------


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(DETECTOR_ENV, raising=False)
    return monkeypatch


@pytest.fixture
def copy_of_yunet(yunet_model_path: Path, tmp_path: Path) -> Path:
    """A YuNet file that is not the shipped one, so a test can tell which was picked."""
    return Path(shutil.copy(yunet_model_path, tmp_path / "my-yunet.onnx"))


def damaged(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # one damaged byte
    path.write_bytes(bytes(data))
    return path


def test_the_shipped_model_is_the_pinned_yunet_and_is_found_by_default(yunet_model_path: Path, no_env) -> None:
    assert shipped_yunet_path() == yunet_model_path.resolve() and yunet_model_path.is_file()
    assert file_sha256(yunet_model_path) == YUNET_SHA256
    assert find_yunet_model() == shipped_yunet_path()
    detector = load_detector()
    assert isinstance(detector, YuNetDetector) and detector.model_path == shipped_yunet_path()


def test_an_explicit_path_comes_first(copy_of_yunet: Path, no_env, tmp_path: Path) -> None:
    assert find_yunet_model(copy_of_yunet) == copy_of_yunet
    no_env.setenv(DETECTOR_ENV, str(tmp_path / "elsewhere.onnx"))  # explicit beats the environment
    assert find_yunet_model(copy_of_yunet) == copy_of_yunet
    detector = load_detector(copy_of_yunet, max_side=320)
    assert isinstance(detector, YuNetDetector) and detector.max_side == 320 and detector.model_path == copy_of_yunet


def test_the_environment_comes_before_the_shipped_model(copy_of_yunet: Path, no_env) -> None:
    no_env.setenv(DETECTOR_ENV, str(copy_of_yunet))
    assert find_yunet_model() == copy_of_yunet
    assert load_detector().model_path == copy_of_yunet


def test_a_missing_explicit_or_environment_path_is_an_error_not_a_fallback(no_env, tmp_path: Path) -> None:
    # The shipped model is there; a path the user named must still exist.
    with pytest.raises(DetectorError, match="not found"):
        find_yunet_model(tmp_path / "missing.onnx")
    with pytest.raises(DetectorError, match="not found"):
        load_detector(tmp_path / "missing.onnx")
    no_env.setenv(DETECTOR_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(DetectorError, match="not found"):
        find_yunet_model()
    with pytest.raises(DetectorError, match="not found"):
        load_detector()


def test_a_bad_explicit_or_environment_model_is_an_error_not_a_fallback(copy_of_yunet: Path, no_env) -> None:
    bad = copy_of_yunet
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # a truncated download, say
    with pytest.raises(DetectorError, match="damaged or not YuNet"):
        load_detector(bad)
    no_env.setenv(DETECTOR_ENV, str(bad))
    with pytest.raises(DetectorError, match="damaged or not YuNet"):
        load_detector()


def test_the_shipped_copy_is_used_only_when_its_checksum_matches(copy_of_yunet: Path, no_env, tmp_path: Path, caplog) -> None:
    assert find_yunet_model(shipped=copy_of_yunet) == copy_of_yunet
    assert find_yunet_model(shipped=tmp_path / "absent.onnx") is None
    assert "missing" in caplog.text
    # One changed byte that OpenCV would load without complaint: only the checksum notices.
    YuNetDetector(damaged(copy_of_yunet))
    assert find_yunet_model(shipped=copy_of_yunet) is None
    assert "damaged" in caplog.text


def test_a_garbage_model_file_is_a_detector_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not an onnx model" * 100)
    with pytest.raises(DetectorError, match="damaged or not YuNet"):
        YuNetDetector(garbage)
    with pytest.raises(DetectorError, match="not found"):
        YuNetDetector(tmp_path / "absent.onnx")


def test_a_valid_onnx_model_that_is_not_yunet_is_refused_on_loading(shipped_model_card: Path) -> None:
    # faceapp's own encoder is a well-formed ONNX graph that OpenCV loads; only running it
    # as a detector fails, which loading now tries, so the error comes before any frame.
    with pytest.raises(DetectorError, match="damaged or not YuNet"):
        YuNetDetector(shipped_model_card.with_suffix(".onnx"))


# -- the Haar fallback -------------------------------------------------------------------------------


def test_haar_detector_is_labelled_low_quality_and_finds_the_face(photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    haar = HaarDetector()
    assert haar.quality == "low" and haar.name == "haar-cascade"
    faces = haar.detect(photo)
    assert len(faces) == 1
    assert inside(faces[0].landmarks, faces[0].box)
    assert_plausible_face(faces[0])
    # Same face as YuNet's: the box centres agree to within a quarter of the face width.
    (reference,) = yunet_detector.detect(photo)
    hx, hy, hw, hh = faces[0].box
    yx, yy, yw, yh = reference.box
    assert abs((hx + hw / 2) - (yx + yw / 2)) < yw / 4 and abs((hy + hh / 2) - (yy + yh / 2)) < yh / 4
    assert haar.detect(np.zeros((240, 320, 3), np.uint8)) == []


@pytest.mark.parametrize("install", ["shipped model missing", "shipped model damaged"])
def test_load_detector_falls_back_to_haar_only_for_a_broken_install_and_never_downloads(
    copy_of_yunet: Path, no_env, tmp_path: Path, caplog, install: str
) -> None:
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)  # recorded as well as refused: a download may catch the error
        raise OSError("no network in this test")

    no_env.setattr(socket, "socket", no_network)
    no_env.setattr(socket, "create_connection", no_network)
    shipped = tmp_path / "absent.onnx" if install == "shipped model missing" else damaged(copy_of_yunet)
    detector = load_detector(shipped=shipped)
    assert isinstance(detector, HaarDetector) and detector.quality == "low"
    assert "Haar" in caplog.text and "reinstall" in caplog.text
    assert attempts == []
