"""Specification of training.export: a trained run becomes weights + a model card that the app's
loader accepts, with calibrated thresholds and a checksum that catches any damage."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from faceapp.embed import file_sha256, load_encoder, read_card
from faceapp.errors import ModelError
from faceapp.model import TowerConfig, build_tower
from training.engine import embed_crops
from training.export import export, onnx_ready
from training.prepare import load_dataset
from training.train import TrainConfig, train

TINY_TOWER = {"widths": (8, 16, 16, 16), "blocks": (1, 1, 1)}


@pytest.fixture(scope="module")
def exported(tiny_prepared: dict, teacher_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A one-epoch tiny run (teacher on, 2 CelebA people held out), exported without
    benchmarks or LFW validation."""
    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(tiny_prepared["npz"]), out=str(run), teacher=str(teacher_npz), holdout_identities=2,
                      epochs=1, steps_per_epoch=2, p=4, k=2, device="cpu", **TINY_TOWER))
    out = tmp_path_factory.mktemp("assets")
    card = export(run, out, benchmark=False)
    return {"run": run, "out": out, "card": card, "card_path": out / "faceapp-encoder.json", "weights": out / "faceapp-encoder.pt"}


def test_export_writes_weights_and_a_card(exported: dict) -> None:
    assert exported["card_path"].is_file() and exported["weights"].is_file()
    on_disk = json.loads(exported["card_path"].read_text())
    assert on_disk["model_id"] == exported["card"]["model_id"]
    weights = on_disk["weights"]
    sha = hashlib.sha256(exported["weights"].read_bytes()).hexdigest()
    assert weights["file"] == "faceapp-encoder.pt"
    assert weights["sha256"] == sha and weights["bytes"] == exported["weights"].stat().st_size
    assert on_disk["model_id"] == f"faceapp-encoder-{sha[:12]}-mirror"  # the default: mirror image averaged in
    assert on_disk["embedding"]["mirror_average"] is True
    assert on_disk["architecture"]["config"] == TowerConfig(**TINY_TOWER).to_dict()
    assert on_disk["embedding"]["dim"] == 128 and on_disk["input"]["size"] == 112
    assert on_disk["training"]["never_trained_on"].startswith("LFW")
    assert on_disk["training"]["objective"]["teacher"] is not None
    assert [h["epoch"] for h in on_disk["training"]["history"]] == [1]
    (stage,) = on_disk["training"]["stages"]  # trained from scratch: one stage, no init
    assert stage["run"] == exported["run"].name and stage["init"] is None and stage["epochs_used"] == 1
    assert on_disk["benchmarks"]["lfw_view1"] is None and "cpu_ms_per_face" not in on_disk["benchmarks"]
    # float16 on disk: every floating tensor is half precision.
    state = torch.load(exported["weights"], weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())


def test_card_holds_thresholds_for_each_false_accept_level(exported: dict) -> None:
    thresholds = exported["card"]["thresholds"]
    assert set(thresholds["by_far"]) == {"0.01", "0.001", "0.0001"}
    assert thresholds["default_far"] in thresholds["by_far"]
    t = thresholds["by_far"]
    assert 0.0 <= t["0.0001"] <= t["0.001"] <= t["0.01"] <= 2.0  # stricter FAR, tighter threshold
    calibration = thresholds["calibration"]
    # 2 held-out people x 5 images: 2 x C(5, 2) = 20 genuine and 5 x 5 = 25 impostor pairs.
    assert calibration["identities"] == 2
    assert calibration["genuine_pairs"] == 20 and calibration["impostor_pairs"] == 25
    card = read_card(exported["card_path"])
    assert card.default_threshold == t[thresholds["default_far"]]
    assert card.thresholds == {k: float(v) for k, v in t.items()}


def test_loaded_encoder_reproduces_the_training_model_within_fp16(exported: dict, tiny_prepared: dict) -> None:
    encoder = load_encoder(exported["card_path"], device="cpu")
    assert encoder.model_id == exported["card"]["model_id"] and encoder.dim == 128
    state = torch.load(exported["run"] / "best.pt", weights_only=False)
    trained = build_tower(TowerConfig.from_dict(state["tower"]))
    trained.load_state_dict(state["model"])
    crops = load_dataset(tiny_prepared["npz"])["crops"]
    expected = embed_crops(trained, crops, torch.device("cpu"), mirror_average=True)
    got = encoder.embed(crops)
    assert got.shape == expected.shape == (len(crops), 128) and got.dtype == np.float32
    assert np.abs(got - expected).max() < 2e-3
    assert np.min(np.sum(got * expected, axis=1)) > 0.9999


def test_the_onnx_copy_is_listed_checksummed_and_computes_the_same_encodings(exported: dict, tiny_prepared: dict) -> None:
    onnx = exported["card"]["onnx"]
    path = exported["out"] / onnx["file"]
    assert onnx["file"] == "faceapp-encoder.onnx" and path.is_file()
    assert onnx["sha256"] == file_sha256(path) and onnx["bytes"] == path.stat().st_size
    crops = load_dataset(tiny_prepared["npz"])["crops"]
    through_onnx = load_encoder(exported["card_path"], device="cpu", runtime="onnx")
    through_torch = load_encoder(exported["card_path"], device="cpu", runtime="torch")
    assert (through_onnx.runtime, through_torch.runtime) == ("onnx", "torch")
    np.testing.assert_allclose(through_onnx.embed(crops), through_torch.embed(crops), atol=1e-5)
    assert load_encoder(exported["card_path"], device="cpu").runtime == "onnx"  # the CPU default


def test_onnx_ready_swaps_every_prelu_and_keeps_the_encodings() -> None:
    torch.manual_seed(0)
    model = build_tower(TowerConfig(widths=(8, 16, 16, 16), blocks=(1, 1, 1))).eval()
    prelus = [m for m in model.modules() if isinstance(m, torch.nn.PReLU)]
    with torch.no_grad():
        for prelu in prelus:  # slopes of both signs and above 1, as trained towers have
            prelu.weight.copy_(torch.empty_like(prelu.weight).uniform_(-0.7, 1.3))
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)  # so negative pre-activations are common
    ready = onnx_ready(model)
    assert prelus and not any(isinstance(m, torch.nn.PReLU) for m in ready.modules())
    assert any(isinstance(m, torch.nn.PReLU) for m in model.modules())  # the original is untouched
    images = torch.rand(4, 3, 112, 112) * 255
    with torch.no_grad():
        torch.testing.assert_close(ready(images), model(images), atol=1e-6, rtol=0)


def test_the_onnx_copy_has_no_prelu_node(exported: dict) -> None:
    import onnx

    graph = onnx.load(exported["out"] / exported["card"]["onnx"]["file"]).graph
    ops = {node.op_type for node in graph.node}
    assert "Conv" in ops and "PRelu" not in ops


def test_a_single_pass_export_has_its_own_id_and_the_network_alone_encodes(
    exported: dict, tiny_prepared: dict, tmp_path: Path
) -> None:
    card = export(exported["run"], tmp_path, benchmark=False, mirror_average=False)
    sha = file_sha256(tmp_path / "faceapp-encoder.pt")
    assert card["model_id"] == f"faceapp-encoder-{sha[:12]}" != exported["card"]["model_id"]
    assert card["embedding"]["mirror_average"] is False
    state = torch.load(exported["run"] / "best.pt", weights_only=False)
    trained = build_tower(TowerConfig.from_dict(state["tower"]))
    trained.load_state_dict(state["model"])
    crops = load_dataset(tiny_prepared["npz"])["crops"]
    single = load_encoder(tmp_path / "faceapp-encoder.json", device="cpu").embed(crops)
    assert np.abs(single - embed_crops(trained, crops, torch.device("cpu"))).max() < 2e-3
    # Thresholds are calibrated on the encodings the card's app computes, so they differ.
    assert card["thresholds"]["calibration"] != exported["card"]["thresholds"]["calibration"]


@pytest.fixture
def card_copy(exported: dict, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the exported card and weights (and ONNX copy), free to damage."""
    card = shutil.copy(exported["card_path"], tmp_path / "faceapp-encoder.json")
    weights = shutil.copy(exported["weights"], tmp_path / "faceapp-encoder.pt")
    shutil.copy(exported["out"] / "faceapp-encoder.onnx", tmp_path / "faceapp-encoder.onnx")
    return Path(card), Path(weights)


def test_the_copy_loads_before_any_damage(card_copy: tuple[Path, Path]) -> None:
    card, weights = card_copy
    assert load_encoder(card, device="cpu").card.sha256 == file_sha256(weights)
    assert load_encoder(weights, device="cpu").model_id  # pointing at the weights finds the card


def test_one_flipped_byte_in_the_weights_is_refused(card_copy: tuple[Path, Path]) -> None:
    card, weights = card_copy
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_encoder(card, device="cpu")


@pytest.mark.parametrize("runtime", ["auto", "torch", "onnx"])
def test_a_damaged_onnx_copy_is_refused_whichever_runtime_is_asked_for(card_copy: tuple[Path, Path], runtime: str) -> None:
    card, _ = card_copy
    onnx = card.with_suffix(".onnx")
    onnx.write_bytes(onnx.read_bytes()[:-100])
    with pytest.raises(ModelError, match="ONNX model .* sha256"):
        load_encoder(card, device="cpu", runtime=runtime)


def test_an_unknown_runtime_is_refused(card_copy: tuple[Path, Path]) -> None:
    card, _ = card_copy
    with pytest.raises(ModelError, match="unknown runtime"):
        load_encoder(card, device="cpu", runtime="tensorrt")


def test_a_card_without_an_onnx_copy_runs_on_torch_and_refuses_runtime_onnx(card_copy: tuple[Path, Path]) -> None:
    card, _ = card_copy
    raw = json.loads(card.read_text())
    del raw["onnx"]
    card.write_text(json.dumps(raw))
    assert load_encoder(card, device="cpu").runtime == "torch"
    with pytest.raises(ModelError, match="runtime onnx needs"):
        load_encoder(card, device="cpu", runtime="onnx")


def test_a_damaged_card_is_refused(card_copy: tuple[Path, Path]) -> None:
    card, _ = card_copy
    card.write_text(card.read_text()[:-40])  # truncated JSON
    with pytest.raises(ModelError, match="damaged"):
        load_encoder(card, device="cpu")


def test_a_card_without_thresholds_is_refused(card_copy: tuple[Path, Path]) -> None:
    card, _ = card_copy
    raw = json.loads(card.read_text())
    del raw["thresholds"]
    card.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="lacks a required field"):
        load_encoder(card, device="cpu")


def test_missing_weights_are_refused(card_copy: tuple[Path, Path]) -> None:
    card, weights = card_copy
    weights.unlink()
    with pytest.raises(ModelError, match="weights not found"):
        load_encoder(card, device="cpu")


def test_a_missing_card_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model card not found"):
        load_encoder(tmp_path / "nothing.json", device="cpu")
