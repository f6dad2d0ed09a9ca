"""The learned-quality study and its ship step (``training/quality_head.py``, ``quality_ship.py``):
the head fits what it is given, the error-versus-reject curve rewards a measure that ranks
bad probes first, the cut-off rule finds where probes stop matching, and the ONNX copy's extra
output is the tower's own pre-normalisation norm while its encodings stay as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.export import write_onnx
from training.quality_head import erc, fit_head, head_inputs, run_head
from training.quality_ship import cutoffs, with_prenorm_output


def test_the_head_learns_a_smooth_target_from_its_inputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3)).astype(np.float32)
    y = np.tanh(x[:, 0] - 0.5 * x[:, 2]).astype(np.float32)
    head = fit_head(x[:2000], y[:2000], epochs=300)
    pred = run_head(head, x[2000:])
    assert np.corrcoef(pred, y[2000:])[0, 1] > 0.95
    untrained = run_head(fit_head(x[:2000], y[:2000], epochs=0), x[2000:])
    assert np.mean((pred - y[2000:]) ** 2) < 0.2 * np.mean((untrained - y[2000:]) ** 2)


def test_discarding_by_a_measure_that_knows_the_bad_probes_lowers_the_error_and_random_does_not() -> None:
    rng = np.random.default_rng(1)
    bad = rng.random(1000) < 0.3
    genuine = [np.array([1.3 if b else 0.7]) for b in bad]  # bad probes lie past the threshold 1.0
    knowing = np.where(bad, 0.1, 0.9) + rng.normal(0, 0.01, 1000)
    curve = erc(knowing, genuine, 1.0)
    assert curve[0] == pytest.approx(bad.mean()) and curve[-1] == pytest.approx(0.0, abs=0.01)  # the worst 30% gone
    blind = erc(rng.random(1000), genuine, 1.0)
    assert abs(blind[-1] - blind[0]) < 0.05


def test_the_judge_cutoff_is_where_probes_start_to_lie_past_the_threshold() -> None:
    quality = np.linspace(0, 1, 2500)
    genuine = [np.array([1.2 if q < 0.4 else 0.8]) for q in quality]
    level = np.where(quality > 0.5, 0, 2)  # the clean photos are the better half
    cut = cutoffs(quality, genuine, level, threshold=1.0)
    assert cut["judge"] == pytest.approx(0.4, abs=0.05)
    assert cut["enroll"] >= cut["judge"] and cut["enroll"] == pytest.approx(0.525, abs=0.01)  # 5% of the clean ones


def test_the_scalar_inputs_are_mirror_agreement_and_the_log_norms() -> None:
    u = np.eye(4, dtype=np.float32)[:2]
    views = {"u1": u, "u2": u[::-1], "norm1": np.array([1.0, np.e]), "norm2": np.array([np.e, 1.0])}
    np.testing.assert_allclose(head_inputs(views, "scalars"), [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], atol=1e-6)


def test_the_onnx_copy_gains_the_pre_normalisation_norm_and_keeps_its_encodings(tmp_path: Path) -> None:
    from faceapp.embed import PRENORM_OUTPUT
    from faceapp.model import build_tower

    torch.manual_seed(0)
    tower = build_tower().eval()
    plain, extended = tmp_path / "plain.onnx", tmp_path / "extended.onnx"
    write_onnx(tower, plain)
    with_prenorm_output(plain, extended)
    import onnxruntime as ort

    images = (np.random.default_rng(0).random((3, 3, 112, 112)) * 255).astype(np.float32)
    before = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"]).run(None, {"images": images})
    session = ort.InferenceSession(str(extended), providers=["CPUExecutionProvider"])
    after = session.run(None, {"images": images})
    assert len(before) == 1 and [o.name for o in session.get_outputs()][1] == PRENORM_OUTPUT
    np.testing.assert_array_equal(before[0], after[0])
    with torch.inference_mode():
        pre = tower.head(tower.features((torch.from_numpy(images) - 127.5) / 128.0)).norm(dim=1).numpy()
    np.testing.assert_allclose(after[1].reshape(-1), pre, rtol=1e-4)
