"""Reading image files into RGB uint8 arrays, with clear errors for anything odd."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

# A GIF is read as its first frame.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".gif"})
# Frames larger than this on their long side are downscaled on load: detection does not need
# more, and a very large photo would otherwise cost time and memory in every later stage.
MAX_SIDE = 4096


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


# JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding, for a fraction of the time and memory.
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, without decoding it; None when ``data`` is
    not a JPEG or the header cannot be found."""
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            if at + 9 > len(data):
                return None
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _read_flags(data: bytes) -> int:
    """IMREAD_COLOR, or a reduced read for a JPEG at least twice MAX_SIDE on its long side:
    such a photo then decodes at 1/2, 1/4 or 1/8 of each side (the largest reduction that
    keeps MAX_SIDE) instead of allocating the full-size image first."""
    size = jpeg_size(data)
    if size is not None:
        for factor, flag in _REDUCED:
            if max(size) // factor >= MAX_SIDE:
                return flag
    return cv2.IMREAD_COLOR


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes to RGB uint8 (H, W, 3), at most MAX_SIDE on the long side.

    ``IMREAD_COLOR`` (and its reduced variants) applies EXIF orientation and turns grayscale,
    16-bit, palette, RGBA and CMYK images into 8-bit BGR, which we flip to RGB.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buffer, _read_flags(data))
    except cv2.error as exc:  # e.g. over OpenCV's pixel limit
        raise ImageError(f"{name}: cannot decode the image ({exc.err or exc})") from exc
    if bgr is None or bgr.size == 0:
        raise ImageError(f"{name}: not a readable image (unknown format, truncated or damaged)")
    h, w = bgr.shape[:2]
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _encode(image: np.ndarray, suffix: str, params: list[int]) -> bytes:
    ok, data = cv2.imencode(suffix, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover - a small uint8 RGB array always encodes
        raise ImageError(f"cannot encode a {image.shape} image as {suffix}")
    return data.tobytes()


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 image (what the database keeps as a person's thumbnail)."""
    return _encode(image, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def encode_webp(image: np.ndarray, quality: int) -> bytes:
    """WebP bytes of an RGB uint8 image at ``quality`` 1-100 (above 100: lossless)."""
    return _encode(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, int(quality)])


def encode_lossless(image: np.ndarray) -> bytes:
    """Lossless WebP bytes of an RGB uint8 image (what a template's kept face crop costs:
    README, "Benchmarks", ``benchmarks/bench_crops.py``).

    Templates keep their aligned crop this way so a new model can re-encode it exactly as
    if the photo were enrolled again; a lossy copy, even JPEG at a high quality, moves the
    encodings (measured by the same benchmark).
    """
    return encode_webp(image, 101)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; raises ImageError with the path on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_image(data, str(path))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith("."))


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (model files are checked on every load)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
