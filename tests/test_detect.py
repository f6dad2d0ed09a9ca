"""Specification of faceapp.detect: YuNet on real photos, finding its model, the Haar fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.detect import (
    YUNET_FILENAME,
    HaarDetector,
    YuNetDetector,
    detect_in_crop,
    find_yunet_model,
    load_detector,
    pick_central,
)
from faceapp.errors import DetectorError
from faceapp.images import load_image
from faceapp.types import Detection

DETECTOR_ENV = "FACEAPP_DETECTOR_MODEL"
# A CelebA crop so tight that YuNet finds nothing until the image is padded.
TIGHT_CROP = ("celeba-aligned", "10021", "020344.webp")


@pytest.fixture(scope="module")
def lfw_photo(lfw_dir: Path) -> np.ndarray:
    return load_image(lfw_dir / "Abdullah_Gul" / "Abdullah_Gul_0013.jpg")


def inside(points: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return bool(np.all((points[:, 0] >= x) & (points[:, 0] <= x + w) & (points[:, 1] >= y) & (points[:, 1] <= y + h)))


def assert_plausible_face(face: Detection) -> None:
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]  # image-left first
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])  # eyes above mouth


# -- YuNet -------------------------------------------------------------------------------------


def test_yunet_finds_the_one_face_of_an_lfw_photo(lfw_photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    faces = yunet_detector.detect(lfw_photo)
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= 0.6
    assert inside(face.landmarks, face.box)
    assert_plausible_face(face)
    x, y, w, h = face.box  # LFW photos are centred on the face, about 100 px wide
    assert abs(x + w / 2 - 125) < 30 and abs(y + h / 2 - 125) < 40 and 60 < w < 160
    assert yunet_detector.name == "yunet" and yunet_detector.quality == "high"


def test_yunet_maps_boxes_back_from_a_downscaled_large_frame(lfw_photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    # A 1500 px frame is detected at max_side 640: the result must be the 640 px detection
    # scaled back up to 1500 px coordinates.
    big = cv2.resize(lfw_photo, (1500, 1500), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA)
    (big_face,) = yunet_detector.detect(big)
    (small_face,) = yunet_detector.detect(small)
    factor = 1500 / 640
    np.testing.assert_allclose(np.array(big_face.box), np.array(small_face.box) * factor, rtol=1e-4)
    np.testing.assert_allclose(big_face.landmarks, small_face.landmarks * factor, rtol=1e-4)
    assert big_face.box[2] > 500  # in the big frame's pixels (the face is ~600 px wide there)


def test_yunet_finds_nothing_on_a_blank_image(yunet_detector: YuNetDetector) -> None:
    assert yunet_detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert yunet_detector.detect(np.full((112, 112, 3), 128, np.uint8)) == []
    assert detect_in_crop(yunet_detector, np.full((112, 112, 3), 128, np.uint8)) == []


def test_yunet_returns_several_faces_largest_first(lfw_dir: Path, yunet_detector: YuNetDetector) -> None:
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[100:350, 20:270] = load_image(lfw_dir / "Abdullah_Gul" / "Abdullah_Gul_0013.jpg")
    small = cv2.resize(load_image(lfw_dir / "Aaron_Guiel" / "Aaron_Guiel_0001.jpg"), (150, 150), interpolation=cv2.INTER_AREA)
    canvas[200:350, 400:550] = small
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


def test_detect_in_crop_returns_direct_detections_unchanged(lfw_photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    (direct,) = yunet_detector.detect(lfw_photo)
    (via,) = detect_in_crop(yunet_detector, lfw_photo)
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


def test_find_yunet_model_honours_an_explicit_path(yunet_model_path: Path, no_env, tmp_path: Path) -> None:
    assert find_yunet_model(yunet_model_path, cache_dir=tmp_path, download=False) == yunet_model_path
    no_env.setenv(DETECTOR_ENV, str(tmp_path / "elsewhere.onnx"))  # explicit beats the environment
    assert find_yunet_model(yunet_model_path, cache_dir=tmp_path, download=False) == yunet_model_path


def test_find_yunet_model_honours_the_environment(yunet_model_path: Path, no_env, tmp_path: Path) -> None:
    no_env.setenv(DETECTOR_ENV, str(yunet_model_path))
    assert find_yunet_model(None, cache_dir=tmp_path, download=False) == yunet_model_path


def test_a_missing_explicit_or_environment_path_is_an_error(no_env, tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="not found"):
        find_yunet_model(tmp_path / "missing.onnx", cache_dir=tmp_path, download=False)
    no_env.setenv(DETECTOR_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(DetectorError, match="not found"):
        find_yunet_model(None, cache_dir=tmp_path, download=False)


def test_the_cache_copy_is_used_only_when_its_checksum_matches(yunet_model_path: Path, no_env, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert find_yunet_model(None, cache_dir=cache, download=False) is None  # empty cache, offline
    cache.mkdir()
    cached = cache / YUNET_FILENAME
    shutil.copy(yunet_model_path, cached)
    assert find_yunet_model(None, cache_dir=cache, download=False) == cached
    data = bytearray(cached.read_bytes())
    data[100] ^= 0xFF  # one damaged byte
    cached.write_bytes(bytes(data))
    assert find_yunet_model(None, cache_dir=cache, download=False) is None


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


def test_haar_detector_is_labelled_low_quality_and_finds_the_lfw_face(lfw_photo: np.ndarray, yunet_detector: YuNetDetector) -> None:
    haar = HaarDetector()
    assert haar.quality == "low" and haar.name == "haar-cascade"
    faces = haar.detect(lfw_photo)
    assert len(faces) == 1
    assert inside(faces[0].landmarks, faces[0].box)
    assert_plausible_face(faces[0])
    # Same face as YuNet's: the box centres agree to within a quarter of the face width.
    (reference,) = yunet_detector.detect(lfw_photo)
    hx, hy, hw, hh = faces[0].box
    yx, yy, yw, yh = reference.box
    assert abs((hx + hw / 2) - (yx + yw / 2)) < yw / 4 and abs((hy + hh / 2) - (yy + yh / 2)) < yh / 4
    assert haar.detect(np.zeros((240, 320, 3), np.uint8)) == []


def test_load_detector_falls_back_to_haar_offline_without_a_model(no_env, tmp_path: Path, caplog) -> None:
    detector = load_detector(download=False, cache_dir=tmp_path / "empty-cache")
    assert isinstance(detector, HaarDetector) and detector.quality == "low"
    assert "Haar" in caplog.text


def test_load_detector_uses_yunet_from_the_cache_or_an_explicit_path(yunet_model_path: Path, no_env, tmp_path: Path) -> None:
    shutil.copy(yunet_model_path, tmp_path / YUNET_FILENAME)
    cached = load_detector(download=False, cache_dir=tmp_path)
    assert isinstance(cached, YuNetDetector) and cached.model_path == tmp_path / YUNET_FILENAME
    explicit = load_detector(yunet_model_path, max_side=320, download=False, cache_dir=tmp_path / "none")
    assert isinstance(explicit, YuNetDetector) and explicit.max_side == 320 and explicit.model_path == yunet_model_path
