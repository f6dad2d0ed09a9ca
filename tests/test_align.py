"""Specification of faceapp.align: the similarity fit, the 112x112 template, and real alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceapp.align import CROP_SIZE, TEMPLATE, align_face, center_crop_face, similarity_transform
from faceapp.detect import detect_in_crop
from faceapp.images import load_image



def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(("angle_deg", "scale", "shift"), [(30.0, 1.7, (12.0, -5.0)), (-75.0, 0.4, (-3.0, 40.0)), (0.0, 1.0, (0.0, 0.0))])
def test_similarity_transform_recovers_a_known_rotation_scale_and_shift(angle_deg: float, scale: float, shift: tuple) -> None:
    a = math.radians(angle_deg)
    expected = np.array(
        [[scale * math.cos(a), -scale * math.sin(a), shift[0]], [scale * math.sin(a), scale * math.cos(a), shift[1]]]
    )
    src = np.array([[10.0, 20.0], [60.0, 22.0], [35.0, 45.0], [15.0, 70.0], [55.0, 71.0]])
    dst = apply(expected, src)
    matrix = similarity_transform(src, dst)
    assert matrix.shape == (2, 3) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, expected, atol=1e-4)
    np.testing.assert_allclose(apply(matrix, src), dst, atol=1e-3)


def test_similarity_transform_never_reflects() -> None:
    # Mirrored points cannot be reached by a rotation: the fit must keep det > 0 anyway.
    src = TEMPLATE.astype(np.float64)
    mirrored = src * [-1, 1] + [CROP_SIZE, 0]
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_the_template_maps_onto_itself() -> None:
    matrix = similarity_transform(TEMPLATE, TEMPLATE)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-5)


def test_template_is_an_upright_face_inside_the_crop() -> None:
    assert TEMPLATE.shape == (5, 2)
    assert np.all((TEMPLATE > 0) & (TEMPLATE < CROP_SIZE))
    left_eye, right_eye, nose, left_mouth, right_mouth = TEMPLATE
    assert left_eye[0] < nose[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


def test_align_face_of_landmarks_already_on_the_template_is_the_identity() -> None:
    image = np.random.default_rng(0).integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    np.testing.assert_array_equal(align_face(image, TEMPLATE), image)


def test_align_face_scales_to_other_sizes() -> None:
    image = np.random.default_rng(0).integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    assert align_face(image, TEMPLATE, size=224).shape == (224, 224, 3)


@pytest.fixture(scope="module")
def face_photo(repo_faces) -> np.ndarray:
    """A real photo with one face (an in-repo frame of person E)."""
    return load_image(repo_faces.hungry[0])


def test_align_face_puts_the_landmarks_of_a_real_photo_on_the_template(face_photo: np.ndarray, yunet_detector) -> None:
    (face,) = yunet_detector.detect(face_photo)
    matrix = similarity_transform(face.landmarks, TEMPLATE)
    moved = apply(matrix, face.landmarks)
    # A 4-parameter fit of 5 points is not exact, but every point lands within a few pixels.
    assert np.abs(moved - TEMPLATE).max() < 5.0
    assert np.abs(moved[:2] - TEMPLATE[:2]).max() < 4.0


def test_redetecting_on_the_aligned_crop_finds_the_eyes_where_the_template_says(face_photo: np.ndarray, yunet_detector) -> None:
    (face,) = yunet_detector.detect(face_photo)
    crop = align_face(face_photo, face.landmarks)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    again = detect_in_crop(yunet_detector, crop)
    assert len(again) == 1
    eyes = again[0].landmarks[:2]
    assert np.linalg.norm(eyes - TEMPLATE[:2], axis=1).max() < 4.0
    # Upright: the eyes are level to within a few degrees.
    dx, dy = eyes[1] - eyes[0]
    assert abs(math.degrees(math.atan2(dy, dx))) < 5.0


@pytest.mark.parametrize(("shape", "fraction"), [((250, 250, 3), 0.6), ((168, 192, 3), 1.0), ((480, 640, 3), 0.5), ((1, 1, 3), 1.0)])
def test_center_crop_face_shapes(shape: tuple, fraction: float) -> None:
    image = np.zeros(shape, np.uint8)
    out = center_crop_face(image, fraction)
    assert out.shape == (CROP_SIZE, CROP_SIZE, 3) and out.dtype == np.uint8
    assert center_crop_face(image, fraction, size=64).shape == (64, 64, 3)


def test_center_crop_face_takes_the_central_square() -> None:
    # A 100x200 image whose central 100x100 square is white and the rest black.
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = 255
    assert np.all(center_crop_face(image, 1.0) == 255)
    half = np.zeros((100, 100, 3), np.uint8)
    half[25:75, 25:75] = 255  # the central half of the shorter side
    assert np.all(center_crop_face(half, 0.5) == 255)
