"""Specification of the face pipeline on real photos: YuNet detection, alignment, the shipped
encoder, and their composition in faceapp.pipeline.Pipeline.

Nothing here knows the model's distances or threshold: comparisons are relative (same-person
pairs closer than different-person pairs) or read from the model card.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import RepoFaces, repo_pairs
from faceapp.align import CROP_SIZE, TEMPLATE, align_face, similarity_transform
from faceapp.detect import pick_central
from faceapp.errors import MultipleFacesError, NoFaceError
from faceapp.evaluate import lfw_image_path, read_pairs
from faceapp.images import load_image
from faceapp.match import Gallery
from faceapp.pipeline import EncodedFace, Pipeline
from faceapp.types import Frame

REPO_ROOT = Path(__file__).resolve().parents[1]
# FACEAPP_TEST_MODEL runs these tests against another model card (e.g. a candidate being trained).
PAIRS_PER_CLASS = 20


@pytest.fixture(scope="session")
def pipeline(yunet_model_path: Path, shipped_model_card: Path) -> Pipeline:
    """The app's pipeline on the shipped YuNet model and the shipped encoder (loaded once)."""
    from faceapp.detect import YuNetDetector
    from faceapp.embed import load_encoder

    return Pipeline(YuNetDetector(yunet_model_path), load_encoder(shipped_model_card, device="cpu"))


@pytest.fixture(scope="module")
def one_face(repo_faces: RepoFaces) -> np.ndarray:
    """A photo of person E, the one face in it."""
    return load_image(repo_faces.hungry[0])


@pytest.fixture(scope="module")
def other_face(repo_faces: RepoFaces) -> np.ndarray:
    """A photo of someone else (a doorway person), the same size as ``one_face``."""
    return load_image(repo_faces.stranger)


# -- detection and alignment ----------------------------------------------------------------


def test_detection_finds_the_face_of_a_photo_with_landmarks_inside_its_box(pipeline: Pipeline, one_face: np.ndarray) -> None:
    faces = pipeline.detector.detect(one_face)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 40 < w < 110 and 40 < h < 130, "the face fills about half of the photo cut around it"
    assert face.landmarks.shape == (5, 2)
    for lx, ly in face.landmarks:
        assert x <= lx <= x + w and y <= ly <= y + h
    assert 0.6 <= face.score <= 1.0
    left_eye, right_eye, nose = face.landmarks[:3]
    assert left_eye[0] < nose[0] < right_eye[0], "eyes on either side of the nose, image-left first"
    assert nose[1] > max(left_eye[1], right_eye[1]), "the nose below the eyes"


def test_alignment_gives_a_112_pixel_crop_with_the_eyes_on_the_template(pipeline: Pipeline, one_face: np.ndarray) -> None:
    image = one_face
    face = pipeline.detector.detect(image)[0]
    crop = align_face(image, face.landmarks)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    matrix = similarity_transform(face.landmarks, TEMPLATE)
    moved = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    eye_error = np.linalg.norm(moved[:2] - TEMPLATE[:2], axis=1)
    assert eye_error.max() < 6, f"eyes {eye_error} px from the template"
    # The face is found again, centred, in its own aligned crop.
    again = pick_central(pipeline.find_faces(crop, still=True), crop.shape)
    assert again is not None
    cx, cy = again.box[0] + again.box[2] / 2, again.box[1] + again.box[3] / 2
    assert abs(cx - CROP_SIZE / 2) < 15 and abs(cy - CROP_SIZE / 2) < 20


# -- encodings --------------------------------------------------------------------------------


def test_encodings_are_unit_vectors_of_the_cards_dimension(pipeline: Pipeline, one_face: np.ndarray) -> None:
    face = pipeline.encode_one(one_face)
    assert isinstance(face, EncodedFace)
    assert face.encoding.shape == (pipeline.encoder.card.dim,)
    assert face.encoding.dtype == np.float32
    assert math.isclose(float(np.linalg.norm(face.encoding)), 1.0, abs_tol=1e-4)
    assert face.crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert 0 < face.quality.value <= 1


def test_the_same_photo_encodes_the_same_way_every_time(pipeline: Pipeline, one_face: np.ndarray) -> None:
    image = one_face
    a, b = pipeline.encode_one(image).encoding, pipeline.encode_one(image.copy()).encoding
    assert float(np.linalg.norm(a - b)) < 1e-4


def pair_distance(pipeline: Pipeline, images: Path, left: tuple[str, int], right: tuple[str, int]) -> float:
    crops = []
    for key in (left, right):
        image = load_image(lfw_image_path(images, *key))
        face = pick_central(pipeline.find_faces(image, still=True), image.shape)
        assert face is not None, f"no face in {key}"
        crops.append(align_face(image, face.landmarks))
    a, b = pipeline.encoder.embed(np.stack(crops))
    return float(np.linalg.norm(a - b))


@pytest.fixture(params=["in-repo faces", "LFW View 1"])
def pairs(request: pytest.FixtureRequest) -> tuple[Path, list[tuple], list[tuple]]:
    """Images and PAIRS_PER_CLASS same-person and different-person pairs of their keys: the
    in-repo faces everywhere, and the first pairs of LFW View 1 where the dataset is."""
    if request.param == "in-repo faces":
        same, different = repo_pairs(request.getfixturevalue("repo_faces"), PAIRS_PER_CLASS)
        return request.getfixturevalue("faces_lfw_layout"), same, different
    lfw_dir = request.getfixturevalue("lfw_dir")
    view1 = read_pairs(lfw_dir / "pairsDevTest.txt")
    same = [(p.left, p.right) for p in view1 if p.same][:PAIRS_PER_CLASS]
    different = [(p.left, p.right) for p in view1 if not p.same][:PAIRS_PER_CLASS]
    return lfw_dir, same, different


def test_the_same_persons_photos_are_closer_than_different_peoples(pipeline: Pipeline, pairs) -> None:
    images, same, different = pairs
    d_same = np.array([pair_distance(pipeline, images, left, right) for left, right in same])
    d_diff = np.array([pair_distance(pipeline, images, left, right) for left, right in different])
    wins = int(np.sum(d_same < d_diff))  # pair i of each class against each other
    assert wins >= 0.7 * PAIRS_PER_CLASS, f"same-person pairs closer in only {wins} of {PAIRS_PER_CLASS}"
    assert np.median(d_same) < np.median(d_diff)
    # And the card's threshold separates them better than chance.
    t = pipeline.encoder.card.default_threshold
    correct = int(np.sum(d_same <= t) + np.sum(d_diff > t))
    assert correct > PAIRS_PER_CLASS, f"the card's threshold {t} classifies only {correct} of {2 * PAIRS_PER_CLASS}"


# -- encode_one: exactly one face -------------------------------------------------------------


def test_encode_one_raises_no_face_on_a_blank_image(pipeline: Pipeline) -> None:
    blank = np.full((240, 320, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="blank.png: no face"):
        pipeline.encode_one(blank, label="blank.png")


def test_encode_one_raises_multiple_faces_on_two_people_side_by_side(pipeline: Pipeline, one_face: np.ndarray, other_face: np.ndarray) -> None:
    two = np.hstack([one_face, other_face])
    with pytest.raises(MultipleFacesError, match="2 faces"):
        pipeline.encode_one(two, label="two.jpg")
    face = pipeline.encode_one(two, largest=True)
    assert face.encoding.shape == (pipeline.encoder.card.dim,)
    largest = pipeline.detector.detect(two)[0]
    assert face.detection.box == largest.box


def test_encode_central_takes_the_face_in_the_middle_and_none_from_a_blank_photo(
        pipeline: Pipeline, one_face: np.ndarray, other_face: np.ndarray) -> None:
    assert pipeline.encode_central(np.full((240, 320, 3), 128, np.uint8)) is None
    for middle, edge in ((other_face, one_face), (one_face, other_face)):
        photo = np.hstack([edge, middle, np.full_like(middle, 128)])  # two faces, one in the middle
        assert len(pipeline.find_faces(photo, still=True)) == 2
        face = pipeline.encode_central(photo)
        assert face is not None
        assert float(face.encoding @ pipeline.encode_one(middle).encoding) > float(face.encoding @ pipeline.encode_one(edge).encoding)


# -- process: a whole frame, stage by stage -----------------------------------------------------


def test_process_finds_identifies_and_times_every_stage(pipeline: Pipeline, one_face: np.ndarray, other_face: np.ndarray) -> None:
    enrolled = pipeline.encode_one(one_face)
    gallery = Gallery(enrolled.encoding[None], np.array([7]), {7: "Person E"}, pipeline.model_id)

    result = pipeline.process(Frame(np.hstack([one_face, other_face]), index=3, timestamp=0.5), gallery, pipeline.encoder.card.default_threshold, keep_crops=True)
    assert set(result.timings_ms) == {"detect", "align", "embed", "match"}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.frame.index == 3
    assert len(result.faces) == 2
    left = min(result.faces, key=lambda f: f.detection.box[0])
    right = max(result.faces, key=lambda f: f.detection.box[0])
    assert left.match.name == "Person E" and left.match.person_id == 7
    assert left.match.distance < right.match.distance
    assert right.match.name is None or right.match.distance > left.match.distance
    assert left.crop is not None and left.crop.shape == (CROP_SIZE, CROP_SIZE, 3)


def test_process_without_a_gallery_reports_every_face_unknown(pipeline: Pipeline, one_face: np.ndarray) -> None:
    result = pipeline.process(Frame(one_face, 0, 0.0))
    assert len(result.faces) == 1
    assert result.faces[0].match.name is None
    assert math.isinf(result.faces[0].match.distance)
    assert result.faces[0].crop is None  # crops are kept only when asked for
    assert set(result.timings_ms) == {"detect", "align", "embed", "match"}
