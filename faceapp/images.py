"""Reading image files into RGB uint8 arrays, with clear errors for anything odd."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
# Frames larger than this on their long side are downscaled on load: detection does not need
# more, and a 100-megapixel photo would otherwise cost seconds and gigabytes per stage.
MAX_SIDE = 4096


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes to RGB uint8 (H, W, 3).

    ``IMREAD_COLOR`` applies EXIF orientation and turns grayscale, 16-bit, palette, RGBA and
    CMYK images into 8-bit BGR, which we flip to RGB.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
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


def encode_lossless(image: np.ndarray) -> bytes:
    """Lossless WebP bytes of an RGB uint8 image: about 12 KB for a 112x112 face crop.

    Templates keep their aligned crop this way so a new model can re-encode it exactly as
    if the photo were enrolled again (JPEG at quality 95 moved encodings by up to 0.06).
    """
    return _encode(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])  # above 100 = lossless


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
