"""The Siamese tower: one shared CNN, 112x112 RGB in, L2-normalised 128-D encoding out.

Shared by the app (``embed.py``) and by training, so both build exactly the same network.
The design is a slim residual network sized for a laptop CPU: a stride-2 stem, three
residual stages at 28, 14 and 7 pixels, and a flatten-linear head that keeps where on the
face each feature was seen (global average pooling throws that away, and faces are aligned).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

INPUT_SIZE = 112
# Pixel normalisation applied inside the model, so callers feed plain uint8-range RGB floats.
PIXEL_MEAN = 127.5
PIXEL_STD = 128.0


@dataclass(frozen=True)
class TowerConfig:
    """Hyper-parameters that define the architecture; stored in the model card."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 2, 2)
    dim: int = 128
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "TowerConfig":
        return cls(
            widths=tuple(data["widths"]),
            blocks=tuple(data["blocks"]),
            dim=int(data["dim"]),
            dropout=float(data.get("dropout", 0.0)),
        )


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout)
    )


class ResidualBlock(nn.Module):
    """Pre-activation-free basic block; a 1x1 projection where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class FaceTower(nn.Module):
    """Maps a batch of (N, 3, 112, 112) RGB images in [0, 255] to (N, dim) unit vectors."""

    def __init__(self, config: TowerConfig | None = None) -> None:
        super().__init__()
        self.config = config or TowerConfig()
        widths, blocks = self.config.widths, self.config.blocks
        layers: list[nn.Module] = [_conv_bn(3, widths[0], stride=2)]
        for stage, count in enumerate(blocks):
            cin, cout = widths[stage], widths[stage + 1]
            layers.append(ResidualBlock(cin, cout, stride=2))
            layers.extend(ResidualBlock(cout, cout, stride=1) for _ in range(count - 1))
        self.features = nn.Sequential(*layers)
        side = INPUT_SIZE
        for _ in range(len(blocks) + 1):  # the stem and each stage: 3x3 (or 1x1) stride-2 convs
            side = (side + 1) // 2  # round up, as a padded stride-2 convolution does
        self.head = nn.Sequential(
            nn.BatchNorm2d(widths[-1]),
            nn.Dropout(self.config.dropout),
            nn.Flatten(),
            nn.Linear(widths[-1] * side * side, self.config.dim, bias=False),
            nn.BatchNorm1d(self.config.dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - PIXEL_MEAN) / PIXEL_STD
        return F.normalize(self.head(self.features(x)).float(), dim=1)


def build_tower(config: TowerConfig | None = None) -> FaceTower:
    """The one constructor the app and training both call."""
    return FaceTower(config)
