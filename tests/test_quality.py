"""Specification of faceapp.quality: which faces are good enough to enroll, and the hints a
person gets at a camera or for a photo file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceapp.quality import MAX_YAW, MIN_FACE_PIXELS, MIN_SHARPNESS, FaceQuality, sharpness, yaw

GOOD = FaceQuality(size=2 * MIN_FACE_PIXELS, sharpness=4 * MIN_SHARPNESS, yaw=0.0, score=1.0)


def test_a_large_sharp_frontal_face_has_no_problems_and_the_top_value() -> None:
    assert GOOD.ok and GOOD.problems == [] and GOOD.photo_problems == []
    assert GOOD.value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "at_camera", "in_photo"),
    [
        ({"size": MIN_FACE_PIXELS - 1}, "move closer", "a closer photo"),
        ({"sharpness": MIN_SHARPNESS - 1}, "hold still", "the photo is blurred"),
        ({"yaw": -(MAX_YAW + 0.05)}, "look straight at the camera", "turned away"),
    ],
)
def test_each_problem_has_a_camera_hint_and_a_photo_hint(change: dict, at_camera: str, in_photo: str) -> None:
    quality = FaceQuality(**{**GOOD.__dict__, **change})
    assert not quality.ok
    assert len(quality.problems) == 1 and at_camera in quality.problems[0]
    assert len(quality.photo_problems) == 1 and in_photo in quality.photo_problems[0]
    assert not any(word in quality.photo_problems[0] for word in ("camera", "move", "hold still"))
    assert 0 <= quality.value < GOOD.value


def test_sharpness_is_higher_for_a_sharp_image_than_for_its_blurred_copy() -> None:
    crop = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    assert sharpness(crop) > 10 * sharpness(cv2.GaussianBlur(crop, (9, 9), 3))


def test_yaw_is_the_nose_offset_from_the_eyes_midpoint_in_eye_distances() -> None:
    eyes = [[40.0, 50.0], [80.0, 50.0]]
    assert yaw(np.array([*eyes, [60.0, 70.0], [45, 90], [75, 90]])) == pytest.approx(0.0)
    assert yaw(np.array([*eyes, [70.0, 70.0], [45, 90], [75, 90]])) == pytest.approx(0.25)
    assert yaw(np.array([*eyes, [50.0, 70.0], [45, 90], [75, 90]])) == pytest.approx(-0.25)
