"""Webcam and low-resolution degradations of the student's input, batched on any device.

A webcam at 1.5-2 m gives the app faces 24-64 px wide, blurred, noisy, JPEG- or
H.264-compressed, under office light with colour casts, sometimes with a hand or a cup in
front of the mouth; the training crops are sharp and large. ``WebcamDegrader`` turns a
random share of each batch into such faces, in the order a camera makes them: scene light
(gamma, colour cast) and occluders, lens blur, the sensor's low resolution and its noise,
JPEG compression at that resolution, then the app's enlargement back to 112 px. Only the
student's input is degraded: the teacher's target stays the encoding of the clean image
(precomputed from the undegraded photo), so the student learns to encode a poor shot of a
face where the clean one would land.

Written in plain torch, not with an augmentation library: the same code runs on the CPU and
on a lent GPU machine, which has no network to install one, and it keeps the whole batch on
the device (JPEG included, as an 8x8 DCT quantisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

# YuNet's face box width on an aligned 112x112 crop, so that "a face 40 px wide" means here
# what it means to the detector and to ``faceapp evaluate --degrade-to``.
from faceapp.evaluate import FACE_WIDTH_IN_CROP


# The JPEG standard's luminance and chrominance quantisation tables (ITU T.81, Annex K).
_LUMA_TABLE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_CHROMA_TABLE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, *([99] * 32),
]


@dataclass(frozen=True)
class DegradeConfig:
    """Which share of faces is degraded, and how far each degradation goes."""

    fraction: float = 0.5  # share of the batch made webcam-like; the rest stays as augment() left it
    face_px: tuple[float, float] = (24.0, 64.0)  # face width the sensor resolves
    low_res_p: float = 0.8  # of the degraded faces: shrunk to face_px and enlarged back
    blur_p: float = 0.4
    blur_sigma: tuple[float, float] = (0.4, 1.6)  # in 112-px crop pixels
    noise_p: float = 0.5
    noise_std: tuple[float, float] = (2.0, 12.0)  # on the 0-255 scale, at the sensor's resolution
    jpeg_p: float = 0.5
    jpeg_quality: tuple[float, float] = (25.0, 85.0)
    light_p: float = 0.6  # gamma and a per-channel colour cast
    gamma: tuple[float, float] = (0.6, 1.6)
    cast: float = 0.15  # each channel's gain within 1 +- cast
    occlusion_p: float = 0.15
    occlusion_area: tuple[float, float] = (0.08, 0.25)  # share of the crop covered


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    low, high = bounds
    return (low + (high - low) * torch.rand(n, generator=generator)).to(device)


def _chance(n: int, p: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=generator) < p).to(device)


def _pick(mask: torch.Tensor, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return torch.where(mask[:, None, None, None], changed, original)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred with its own sigma: one grouped convolution for the whole batch."""
    n, c, h, w = images.shape
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None].clamp_min(1e-3)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, k)
    flat = F.pad(images.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def _dct_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    k = torch.arange(8, device=device, dtype=dtype)
    basis = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16)
    scale = torch.full((8, 1), math.sqrt(2 / 8), device=device, dtype=dtype)
    scale[0] = math.sqrt(1 / 8)
    return basis * scale  # orthonormal DCT-II: rows are frequencies


def _quality_tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 8, 8) luminance and chrominance tables scaled as libjpeg scales them by quality."""
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)[:, None, None]
    tables = []
    for base in (_LUMA_TABLE, _CHROMA_TABLE):
        table = torch.tensor(base, device=quality.device, dtype=quality.dtype).reshape(1, 8, 8)
        tables.append(((table * scale + 50) / 100).floor().clamp(1, 255))
    return tables[0], tables[1]


def jpeg(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Each image through a JPEG round trip at its own quality: YCbCr with 4:2:0 chroma,
    8x8 DCT, quantisation by the standard tables, and back. Sides are padded to a multiple
    of 16 by replication and cropped again."""
    n, _, h, w = images.shape
    pad_h, pad_w = (-h) % 16, (-w) % 16
    x = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 + (b - y) * 0.564
    cr = 128 + (r - y) * 0.713
    luma_table, chroma_table = _quality_tables(quality.to(images.dtype))
    dct = _dct_matrix(images.device, images.dtype)

    def roundtrip(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        ph, pw = plane.shape[1:]
        blocks = (plane - 128).reshape(n, ph // 8, 8, pw // 8, 8).permute(0, 1, 3, 2, 4)
        coefficients = dct @ blocks @ dct.T
        table = table[:, None, None]
        blocks = dct.T @ (torch.round(coefficients / table) * table) @ dct
        return blocks.permute(0, 1, 3, 2, 4).reshape(n, ph, pw) + 128

    def chroma(plane: torch.Tensor) -> torch.Tensor:
        small = F.avg_pool2d(plane[:, None], 2)[:, 0]
        return F.interpolate(roundtrip(small, chroma_table)[:, None], scale_factor=2, mode="nearest")[:, 0]

    y, cb, cr = roundtrip(y, luma_table), chroma(cb) - 128, chroma(cr) - 128
    rgb = torch.stack([y + 1.403 * cr, y - 0.344 * cb - 0.714 * cr, y + 1.773 * cb], dim=1)
    return rgb[:, :, :h, :w].clamp(0, 255)


def occlude(images: torch.Tensor, area: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A flat-coloured rectangle of the given share of the crop over each image: a hand,
    a cup, a scarf. It lands more often over the lower face, where hands go."""
    n, _, h, w = images.shape
    dev = images.device
    aspect = torch.exp(torch.empty(n).uniform_(-0.7, 0.7, generator=generator)).to(dev)
    box_h = (torch.sqrt(area * aspect) * h).clamp(4, h)
    box_w = (torch.sqrt(area / aspect) * w).clamp(4, w)
    top = torch.rand(n, generator=generator).to(dev).sqrt() * (h - box_h)  # skewed downwards
    left = torch.rand(n, generator=generator).to(dev) * (w - box_w)
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    mask = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]
    colour = (torch.rand(n, 3, generator=generator) * 255).to(dev)[:, :, None, None]
    return torch.where(mask, colour, images)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class WebcamDegrader:
    """``degrader(images, generator)``: a (N, 3, 112, 112) batch in [0, 255] with a random
    share of its faces made webcam-like (``DegradeConfig``); the others are returned as they
    were. Random draws come from ``generator`` (on the CPU), so a resumed run continues the
    same stream."""

    def __init__(self, config: DegradeConfig | None = None, size_buckets: int = 6) -> None:
        self.config = config or DegradeConfig()
        self.size_buckets = size_buckets  # low resolutions are drawn from this many sizes, one resize each

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        n, _, h, w = images.shape
        dev = images.device
        if c.fraction <= 0 or n == 0:
            return images
        x = images.float().contiguous()
        chosen = _chance(n, c.fraction, generator, dev)

        def gated(p: float) -> torch.Tensor:
            return chosen & _chance(n, p, generator, dev)

        lit = gated(c.light_p)
        gamma = _uniform(n, c.gamma, generator, dev)[:, None, None, None]
        gains = (1 + (torch.rand(n, 3, generator=generator).to(dev) * 2 - 1) * c.cast)[:, :, None, None]
        x = _pick(lit, (255 * (x / 255).clamp_min(0) ** gamma * gains).clamp(0, 255), x)
        hidden = gated(c.occlusion_p)
        x = _pick(hidden, occlude(x, _uniform(n, c.occlusion_area, generator, dev), generator), x)
        blurred = gated(c.blur_p)
        x = _pick(blurred, gaussian_blur(x, _uniform(n, c.blur_sigma, generator, dev)), x)

        small = gated(c.low_res_p)
        noisy, compressed = gated(c.noise_p), gated(c.jpeg_p)
        noise_std = _uniform(n, c.noise_std, generator, dev)
        quality = _uniform(n, c.jpeg_quality, generator, dev)
        # The side each face is shrunk to; unshrunk faces keep the full side (bucket h).
        face = _uniform(n, c.face_px, generator, dev)
        low, high = (round(h * v / FACE_WIDTH_IN_CROP) for v in c.face_px)
        sizes = torch.linspace(low, high, self.size_buckets, device=dev).round()
        side = sizes[torch.bucketize(face * h / FACE_WIDTH_IN_CROP, (sizes[1:] + sizes[:-1]) / 2)]
        side = torch.where(small, side, torch.full_like(side, h))
        out = x.clone()
        for size in torch.unique(side[chosen]).tolist():
            rows = torch.nonzero(chosen & (side == size)).squeeze(1)
            part = x[rows] if size == h else _resize(x[rows], int(size))
            noise = torch.randn(part.shape, generator=generator).to(dev) * noise_std[rows, None, None, None]
            part = _pick(noisy[rows], (part + noise).clamp(0, 255), part)
            part = _pick(compressed[rows], jpeg(part, quality[rows]), part)
            out[rows] = part if size == h else _resize(part, h).clamp(0, 255)
        return out.contiguous(memory_format=torch.channels_last)
