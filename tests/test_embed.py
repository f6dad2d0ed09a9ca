"""Specification of faceapp.embed on the shipped model: the card, the encoder and devices.

Values (model id, thresholds, dimensions) are read from the card, never written here: the
shipped model is retrained and replaced.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from faceapp.embed import Encoder, average_mirrors, file_sha256, load_encoder, pick_device, read_card, with_mirrors
from faceapp.errors import ModelError


@pytest.fixture(scope="module")
def encoder(shipped_model_card: Path) -> Encoder:
    return load_encoder(shipped_model_card, device="cpu")


def test_the_shipped_card_is_complete_and_matches_its_weights(shipped_model_card: Path) -> None:
    card = read_card(shipped_model_card)
    assert card.model_id and card.weights_path.is_file()
    assert file_sha256(card.weights_path) == card.sha256
    assert card.input_size == 112 and card.dim > 0
    assert card.default_level in card.thresholds
    assert {"0.01", "0.001", "0.0001"} <= set(card.thresholds)
    levels = sorted(card.thresholds, key=float)  # stricter false-accept rate, tighter threshold
    assert [card.thresholds[k] for k in levels] == sorted(card.thresholds.values())
    assert 0.0 < card.default_threshold < 2.0
    assert card.raw["training"]["never_trained_on"].startswith("LFW")


def test_embed_gives_unit_float32_rows(encoder: Encoder, face_crops: np.ndarray) -> None:
    out = encoder.embed(face_crops)
    assert out.shape == (3, encoder.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert encoder.model_id == read_card(encoder.card.weights_path).model_id


def test_embed_of_one_crop_and_in_small_batches_agrees(shipped_model_card: Path, encoder: Encoder, face_crops: np.ndarray) -> None:
    whole = encoder.embed(face_crops)
    single = encoder.embed(face_crops[1])  # a single (112, 112, 3) crop is a batch of one
    assert single.shape == (1, encoder.dim)
    np.testing.assert_allclose(single[0], whole[1], atol=1e-5)
    small_batches = Encoder(read_card(shipped_model_card), device="cpu", batch_size=2).embed(face_crops)
    np.testing.assert_allclose(small_batches, whole, atol=1e-5)


def test_embed_of_no_crops_is_empty(encoder: Encoder) -> None:
    assert encoder.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, encoder.dim)


@pytest.mark.parametrize("shape", [(2, 100, 100, 3), (2, 112, 112), (2, 112, 112, 4), (2, 3, 112, 112), (112, 3)])
def test_a_wrong_crop_shape_is_a_value_error(encoder: Encoder, shape: tuple) -> None:
    with pytest.raises(ValueError, match="expected aligned crops"):
        encoder.embed(np.zeros(shape, np.uint8))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_cuda_without_a_gpu_is_a_model_error(shipped_model_card: Path) -> None:
    with pytest.raises(ModelError, match="no CUDA GPU"):
        load_encoder(shipped_model_card, device="cuda")
    with pytest.raises(ModelError, match="no CUDA GPU"):
        pick_device("cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_auto_device_is_the_cpu_here(shipped_model_card: Path) -> None:
    assert pick_device("auto") == "cpu"
    assert load_encoder(shipped_model_card, device="auto").device == "cpu"


def test_an_unknown_device_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="unknown device"):
        pick_device("tpu")


def test_the_shipped_encoder_runs_on_onnx_runtime_on_a_cpu_and_agrees_with_torch(
    shipped_model_card: Path, encoder: Encoder, face_crops: np.ndarray
) -> None:
    card = read_card(shipped_model_card)
    assert card.onnx_path is not None and file_sha256(card.onnx_path) == card.onnx_sha256
    assert encoder.runtime == "onnx"  # the fast path is the default on a CPU
    through_torch = load_encoder(shipped_model_card, device="cpu", runtime="torch")
    np.testing.assert_allclose(encoder.embed(face_crops), through_torch.embed(face_crops), atol=1e-5)


def test_with_mirrors_appends_each_crop_mirrored_left_to_right() -> None:
    crops = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    doubled = with_mirrors(crops)
    assert doubled.shape == (4, 4, 5, 3)
    np.testing.assert_array_equal(doubled[:2], crops)
    np.testing.assert_array_equal(doubled[2:, :, 0], crops[:, :, 4])  # first column <- last column
    np.testing.assert_array_equal(doubled[2:, 0, :, 1], crops[:, 0, ::-1, 1])


def test_average_mirrors_sums_each_faces_pair_and_normalises() -> None:
    # Two faces: rows 0 and 1 are their encodings, rows 2 and 3 their mirror images'.
    encodings = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    averaged = average_mirrors(encodings)
    np.testing.assert_allclose(averaged, [[np.sqrt(0.5), np.sqrt(0.5)], [0.0, 1.0]], atol=1e-6)


def test_a_card_with_mirror_average_encodes_a_face_and_its_mirror_image_alike(
    shipped_model_card: Path, face_crops: np.ndarray
) -> None:
    card = read_card(shipped_model_card)
    averaging = Encoder(replace(card, mirror_average=True), device="cpu")
    single = Encoder(replace(card, mirror_average=False), device="cpu")
    mirrored = np.ascontiguousarray(face_crops[:, :, ::-1])
    np.testing.assert_allclose(averaging.embed(mirrored), averaging.embed(face_crops), atol=1e-5)
    assert not np.allclose(single.embed(mirrored), single.embed(face_crops), atol=1e-3)  # the network alone is not symmetric
    # The averaged encoding is the normalised sum of the two single-pass encodings.
    np.testing.assert_allclose(averaging.embed(face_crops), average_mirrors(single.embed(with_mirrors(face_crops))), atol=1e-5)


def test_the_thread_count_is_passed_to_onnx_runtime(shipped_model_card: Path, encoder: Encoder) -> None:
    one = Encoder(read_card(shipped_model_card), device="cpu", threads=1)
    assert one._session.get_session_options().intra_op_num_threads == 1
    assert encoder._session.get_session_options().intra_op_num_threads == torch.get_num_threads()  # the default


def test_weights_that_give_non_finite_encodings_are_a_model_error(
    shipped_model_card: Path, face_crops: np.ndarray, tmp_path: Path
) -> None:
    # The shipped weights with one NaN, re-signed so that the checksum passes: damage that only
    # running the model can show must still stop before anything is stored or matched.
    card = read_card(shipped_model_card)
    state = torch.load(card.weights_path, map_location="cpu", weights_only=True)
    name = next(k for k, v in reversed(state.items()) if v.is_floating_point() and v.ndim == 1)
    state[name] = state[name].clone()
    state[name][0] = float("nan")
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    broken = replace(card, weights_path=damaged, sha256=file_sha256(damaged), onnx_path=None, onnx_sha256=None)
    with pytest.raises(ModelError, match="non-finite encodings"):
        Encoder(broken, device="cpu", runtime="torch").embed(face_crops)
