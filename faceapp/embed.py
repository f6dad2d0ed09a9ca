"""Encoder: loads the tower's weights + JSON model card, picks the device, embeds in batches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .images import file_sha256

CARD_SUFFIX = ".json"


@dataclass(frozen=True)
class ModelCard:
    """What the app needs from the card; the full JSON stays available as ``raw``."""

    model_id: str
    weights_path: Path
    sha256: str
    dim: int
    input_size: int
    tower: dict
    thresholds: dict[str, float]  # FAR level ("0.01", "0.001", ...) -> distance
    default_level: str
    raw: dict

    @property
    def default_threshold(self) -> float:
        return self.thresholds[self.default_level]


def read_card(card_path: str | Path) -> ModelCard:
    """Parse and sanity-check a model card; the weights path is resolved next to the card."""
    card_path = Path(card_path)
    if card_path.suffix != CARD_SUFFIX:  # allow pointing at the weights file
        card_path = card_path.with_suffix(CARD_SUFFIX)
    try:
        raw = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"model card not found: {card_path} (pass --model, or reinstall faceapp's assets/)") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {card_path} is damaged: {exc}") from None
    try:
        return ModelCard(
            model_id=str(raw["model_id"]),
            weights_path=card_path.parent / raw["weights"]["file"],
            sha256=str(raw["weights"]["sha256"]),
            dim=int(raw["embedding"]["dim"]),
            input_size=int(raw["input"]["size"]),
            tower=dict(raw["architecture"]["config"]),
            thresholds={str(k): float(v) for k, v in raw["thresholds"]["by_far"].items()},
            default_level=str(raw["thresholds"]["default_far"]),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model card {card_path} lacks a required field ({exc})") from None


def pick_device(name: str = "auto") -> str:
    """"auto": CUDA when torch sees a GPU, else CPU. Asking for CUDA without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ModelError(f"unknown device {name!r}: use cpu, cuda or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device cuda was asked for, but torch sees no CUDA GPU; use --device cpu")
    return name


class Encoder:
    """The loaded tower. ``embed(crops)`` maps (N, 112, 112, 3) uint8 RGB to (N, dim) unit float32."""

    def __init__(self, card: ModelCard, device: str = "auto", batch_size: int = 64) -> None:
        import torch

        from .model import TowerConfig, build_tower

        if not card.weights_path.is_file():
            raise ModelError(f"model weights not found: {card.weights_path}")
        if file_sha256(card.weights_path) != card.sha256:
            raise ModelError(
                f"model weights {card.weights_path} do not match their model card's sha256: "
                "the file is damaged or from another model"
            )
        self.card = card
        self.device = pick_device(device)
        self.batch_size = batch_size
        try:
            state = torch.load(card.weights_path, map_location="cpu", weights_only=True)
            model = build_tower(TowerConfig.from_dict(card.tower))
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except Exception as exc:  # a state dict from another architecture, a truncated zip, ...
            raise ModelError(f"cannot load model weights {card.weights_path}: {exc}") from None
        self._model = model.to(self.device).eval()
        self._torch = torch

    @property
    def model_id(self) -> str:
        return self.card.model_id

    @property
    def dim(self) -> int:
        return self.card.dim

    def embed(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        size = self.card.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(f"expected aligned crops of shape (N, {size}, {size}, 3), got {crops.shape}")
        torch = self._torch
        out = np.empty((len(crops), self.dim), np.float32)
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(crops[start : start + self.batch_size]))
                batch = batch.to(self.device).permute(0, 3, 1, 2).float()
                out[start : start + len(batch)] = self._model(batch).cpu().numpy()
        return out


def load_encoder(model_path: str | Path, device: str = "auto") -> Encoder:
    """Read the card at ``model_path`` (or next to the weights file) and load the encoder."""
    return Encoder(read_card(model_path), device)
