"""Specification of faceapp.model: the tower's shapes, normalisation and configuration."""

from __future__ import annotations

import pytest
import torch

from faceapp.model import INPUT_SIZE, FaceTower, TowerConfig, build_tower

TINY = TowerConfig(widths=(8, 16, 16, 16), blocks=(1, 1, 1))


def images(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, 112, 112) float RGB in [0, 255], as the encoder feeds the tower."""
    return torch.randint(0, 256, (n, 3, INPUT_SIZE, INPUT_SIZE), generator=torch.Generator().manual_seed(seed)).float()


def test_default_tower_outputs_unit_128_d_encodings() -> None:
    model = build_tower().eval()
    with torch.inference_mode():
        out = model(images(3))
    assert out.shape == (3, 128) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3), atol=1e-5, rtol=0)


def test_build_tower_without_a_config_uses_the_defaults() -> None:
    assert build_tower().config == TowerConfig() and isinstance(build_tower(TINY), FaceTower)


@pytest.mark.parametrize("config", [TINY, TowerConfig(widths=(8, 16, 32), blocks=(1, 2), dim=64), TowerConfig(widths=(8, 8, 8, 8, 8), blocks=(1, 1, 1, 1), dim=32)])
def test_other_configurations_give_their_dimension(config: TowerConfig) -> None:
    model = build_tower(config).eval()
    with torch.inference_mode():
        out = model(images(2))
    assert out.shape == (2, config.dim)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2), atol=1e-5, rtol=0)


def test_training_mode_and_gradients() -> None:
    model = build_tower(TINY).train()
    out = model(images(4))
    assert out.shape == (4, 128)
    out[:, 0].sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_eval_is_deterministic_and_tells_images_apart() -> None:
    model = build_tower(TINY).eval()
    batch = images(2)
    with torch.inference_mode():
        a, b = model(batch), model(batch.clone())
        one = model(batch[:1])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(one[0], a[0], atol=1e-5, rtol=0)  # no batch coupling in eval mode
    assert not torch.allclose(a[0], a[1])


def test_pixel_normalisation_is_inside_the_model() -> None:
    # Raw 0..255 values go in; a constant mid-grey or black image must not blow up.
    model = build_tower(TINY).eval()
    with torch.inference_mode():
        out = model(torch.cat([torch.full((1, 3, 112, 112), 127.5), torch.zeros(1, 3, 112, 112)]))
    assert torch.isfinite(out).all()


def test_bf16_autocast_still_returns_float32_unit_vectors() -> None:
    model = build_tower(TINY).eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(images(2))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2), atol=1e-5, rtol=0)


def test_channels_last_input_gives_the_same_encodings() -> None:
    model = build_tower(TINY).eval()
    batch = images(2)
    with torch.inference_mode():
        plain = model(batch)
        cl = model(batch.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(plain, cl, atol=1e-5, rtol=1e-4)


def test_tower_config_round_trips_through_a_dict() -> None:
    config = TowerConfig(widths=(8, 16, 32, 64), blocks=(2, 1, 3), dim=96, dropout=0.1)
    data = config.to_dict()
    assert data == {"widths": [8, 16, 32, 64], "blocks": [2, 1, 3], "dim": 96, "dropout": 0.1}
    assert TowerConfig.from_dict(data) == config
    assert TowerConfig.from_dict({"widths": [8, 16], "blocks": [1], "dim": 16}).dropout == 0.0  # older cards
