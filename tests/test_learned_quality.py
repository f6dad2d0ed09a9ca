"""Specification of the encoder's learned quality (the card's ``quality`` head): read from the
card, computed alike by both runtimes, lower for a face made poor, refused when damaged, and
used by the enrollment and judging checks. Cut-offs are read from the card, never written here."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import aligned_crops

from faceapp.decide import JudgeLimits
from faceapp.embed import Encoder, file_sha256, load_encoder, read_card
from faceapp.errors import ModelError
from faceapp.images import load_image
from faceapp.pipeline import Pipeline
from faceapp.quality import FaceQuality, LearnedQuality


@pytest.fixture(scope="module")
def encoder(shipped_model_card: Path) -> Encoder:
    return load_encoder(shipped_model_card, device="cpu")


@pytest.fixture(scope="module")
def e_crops(repo_faces, yunet_detector) -> np.ndarray:
    return aligned_crops(repo_faces.e, yunet_detector)


def poor(crop: np.ndarray, face_px: int = 14) -> np.ndarray:
    """The crop as a far webcam gives it: shrunk to a face about ``face_px`` wide, blurred, enlarged back."""
    side = max(8, round(crop.shape[0] * face_px / 77))
    small = cv2.resize(cv2.GaussianBlur(crop, (0, 0), 1.5), (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, crop.shape[:2][::-1], interpolation=cv2.INTER_LINEAR)


def test_the_shipped_card_lists_a_quality_head_that_matches_its_file(shipped_model_card: Path) -> None:
    card = read_card(shipped_model_card)
    assert card.quality is not None and card.quality.path.is_file()
    assert file_sha256(card.quality.path) == card.quality.sha256
    assert card.quality.enroll_min >= card.quality.judge_min
    entry = card.raw["quality"]
    assert entry["target"] and entry["input"] and entry["fitted"]


def test_embed_with_quality_gives_the_same_encodings_and_one_finite_value_per_face(
        encoder: Encoder, face_crops: np.ndarray) -> None:
    encodings, quality = encoder.embed_with_quality(face_crops)
    np.testing.assert_array_equal(encodings, encoder.embed(face_crops))
    assert quality is not None and quality.shape == (len(face_crops),) and quality.dtype == np.float32
    assert np.isfinite(quality).all()
    alone = encoder.embed_with_quality(face_crops[1])[1]
    assert alone[0] == pytest.approx(quality[1], abs=1e-4)


def test_torch_and_onnx_runtime_give_the_same_quality(shipped_model_card: Path, encoder: Encoder,
                                                      face_crops: np.ndarray) -> None:
    pytest.importorskip("onnxruntime")
    assert encoder.runtime == "onnx"
    torch_encoder = load_encoder(shipped_model_card, device="cpu", runtime="torch")
    on_onnx, on_torch = encoder.embed_with_quality(face_crops), torch_encoder.embed_with_quality(face_crops)
    np.testing.assert_allclose(on_onnx[0], on_torch[0], atol=1e-4)
    np.testing.assert_allclose(on_onnx[1], on_torch[1], atol=1e-3)


def test_a_shrunk_blurred_face_scores_lower_than_its_clean_crop(encoder: Encoder, repo_faces, e_crops: np.ndarray) -> None:
    """Every one of E's sharper shots (the hungry clip) loses quality; the want clip's faces are
    already small and soft, and on average lose some too."""
    _, clean = encoder.embed_with_quality(e_crops)
    _, blurred = encoder.embed_with_quality(np.stack([poor(c) for c in e_crops]))
    sharper = len(repo_faces.hungry)
    assert (blurred[:sharper] < clean[:sharper]).all(), (clean, blurred)
    assert blurred.mean() < clean.mean()


def test_profile_faces_score_lower_than_frontal_ones(encoder: Encoder, repo_faces, yunet_detector, e_crops: np.ndarray) -> None:
    profiles = aligned_crops([p for photos in repo_faces.others.values() for p in photos], yunet_detector)
    assert encoder.embed_with_quality(profiles)[1].max() < np.median(encoder.embed_with_quality(e_crops)[1])


def test_the_pipeline_carries_the_learned_quality_without_cutoffs_unless_the_card_enforces_them(
        shipped_pipeline, repo_faces) -> None:
    face = shipped_pipeline.encode_one(load_image(repo_faces.hungry[0]))
    assert face.quality.learned is not None
    expected = shipped_pipeline.encoder.embed_with_quality(face.crop)[1][0]
    assert face.quality.learned.value == pytest.approx(float(expected), abs=1e-4)
    if not shipped_pipeline.encoder.card.quality.enforce:
        assert face.quality.learned.enroll_min is None and face.quality.learned.judge_min is None


def test_a_card_that_enforces_its_cutoffs_refuses_a_poor_face_for_enrollment_and_naming(
        card_copy: Path, yunet_detector, repo_faces) -> None:
    raw = json.loads(card_copy.read_text())
    raw["quality"]["enforce"] = True
    card_copy.write_text(json.dumps(raw))
    pipeline = Pipeline(yunet_detector, load_encoder(card_copy, device="cpu"))
    head = pipeline.encoder.card.quality
    face = pipeline.encode_one(load_image(repo_faces.stranger))
    learned = face.quality.learned
    assert (learned.enroll_min, learned.judge_min) == (head.enroll_min, head.judge_min)
    assert learned.value < head.judge_min
    assert any("encoder" in hint for hint in face.quality.problems)
    assert "unclear to the encoder" in JudgeLimits().problems(face.quality)


GOOD = FaceQuality(size=200.0, sharpness=500.0, yaw=0.0, score=1.0)


def test_a_face_below_the_enrollment_cutoff_gets_a_hint_and_is_not_ok() -> None:
    low = replace(GOOD, learned=LearnedQuality(0.5, enroll_min=0.6, judge_min=0.4))
    assert not low.ok and len(low.problems) == 1 and "encoder" in low.problems[0]
    assert "photo" in low.photo_problems[0]
    assert replace(GOOD, learned=LearnedQuality(0.7, enroll_min=0.6, judge_min=0.4)).ok
    assert low.value == GOOD.value  # the stored template quality stays the hand-made one


def test_a_face_below_the_judge_cutoff_is_not_judged_unless_the_check_is_off() -> None:
    low = replace(GOOD, learned=LearnedQuality(0.3, enroll_min=0.6, judge_min=0.4))
    assert JudgeLimits().problems(low) == ["unclear to the encoder"]
    assert not JudgeLimits().judgeable(low)
    assert JudgeLimits(use_learned=False).judgeable(low)
    assert JudgeLimits().judgeable(replace(low, learned=LearnedQuality(0.5, 0.6, 0.4)))
    assert JudgeLimits().judgeable(GOOD)  # a model without a head: hand-made checks alone


@pytest.fixture
def card_copy(shipped_model_card: Path, tmp_path: Path) -> Path:
    """The shipped card and its files copied, so a test can damage the quality head."""
    card = read_card(shipped_model_card)
    for path in (shipped_model_card, card.weights_path, card.onnx_path, card.quality.path, card.cohort.path):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / shipped_model_card.name


def _resign(card_path: Path, quality_file: Path) -> None:
    raw = json.loads(card_path.read_text())
    raw["quality"]["sha256"] = file_sha256(quality_file)
    card_path.write_text(json.dumps(raw))


@pytest.mark.parametrize("damage", ["truncated", "wrong shape", "not finite"])
def test_a_damaged_quality_head_is_a_one_line_model_error(card_copy: Path, damage: str) -> None:
    head_file = read_card(card_copy).quality.path
    text = head_file.read_text()
    if damage == "truncated":
        head_file.write_text(text[: len(text) // 2])
    else:
        raw = json.loads(text)
        raw["w1"] = raw["w1"][:1] if damage == "wrong shape" else [[float("nan")] * len(row) for row in raw["w1"]]
        head_file.write_text(json.dumps(raw))
    _resign(card_copy, head_file)
    with pytest.raises(ModelError, match="quality head .* is damaged") as error:
        load_encoder(card_copy, device="cpu")
    assert "\n" not in str(error.value)


def test_a_quality_file_that_does_not_match_its_sha_is_a_model_error(card_copy: Path) -> None:
    head_file = read_card(card_copy).quality.path
    head_file.write_text(head_file.read_text() + " ")
    with pytest.raises(ModelError, match="quality head file .* does not match the sha256"):
        load_encoder(card_copy, device="cpu")


def test_without_mirror_averaging_there_is_no_learned_quality(shipped_model_card: Path, face_crops: np.ndarray) -> None:
    single = Encoder(replace(read_card(shipped_model_card), mirror_average=False), device="cpu")
    encodings, quality = single.embed_with_quality(face_crops)
    assert quality is None and np.isfinite(encodings).all()
