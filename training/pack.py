"""Pack a prepared dataset compactly (WebP bytes + labels + teacher) to ship it to a GPU machine.

    python -m training pack data/train.npz --teacher ../shared/datasets/teacher-dlib.npz \
        --out data/pack --max-part-mib 36 --quality 75

A prepared ``.npz`` holds raw 112x112 crops; WebP at quality 75 makes them many times
smaller at a small loss (sizes and PSNR: README, "The shipped encoder" and "Benchmarks",
``benchmarks/bench_crops.py``), so the set travels in a few parts under a transfer limit.
Each part is a self-contained dataset that ``training.prepare.load_dataset`` reads like a
prepared file (decoding in parallel), and ``train`` takes several parts at once. The
teacher's encodings travel inside the parts, joined by provenance path, so the GPU machine
needs nothing from ``../shared``.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from faceapp.images import encode_webp

from .data import teacher_rows
from .prepare import load_dataset, save_dataset

# Keys a packed part holds in place of "crops".
BLOB, OFFSETS = "webp_bytes", "webp_offsets"


def encode_crops(crops: np.ndarray, quality: int, workers: int = 8) -> list[bytes]:
    """RGB uint8 crops -> WebP byte strings, as faceapp.images encodes them."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda crop: encode_webp(crop, quality), crops, chunksize=256))


def decode_crops(blob: np.ndarray, offsets: np.ndarray, workers: int = 8) -> np.ndarray:
    """Inverse of the packing: (N, 112, 112, 3) RGB uint8 from concatenated WebP bytes."""

    def one(i: int) -> np.ndarray:
        image = cv2.imdecode(blob[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"packed image {i} does not decode: the part file is damaged")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    with ThreadPoolExecutor(workers) as pool:
        crops = list(pool.map(one, range(len(offsets) - 1), chunksize=256))
    return np.stack(crops) if crops else np.zeros((0, 112, 112, 3), np.uint8)


def is_packed(arrays: dict[str, np.ndarray]) -> bool:
    return BLOB in arrays


def unpack(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A packed part as a prepared dataset: crops decoded, every other array as stored."""
    rest = {k: v for k, v in arrays.items() if k not in (BLOB, OFFSETS)}
    return {"crops": decode_crops(arrays[BLOB], arrays[OFFSETS]), **rest}


def split_parts(sizes: np.ndarray, max_bytes: int) -> list[np.ndarray]:
    """Consecutive index ranges whose sizes sum to at most ``max_bytes`` each (one item per
    part at least, so an oversized item still gets packed)."""
    parts, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > max_bytes:
            parts.append(np.arange(start, i))
            start, total = i, 0
        total += int(size)
    if len(sizes):
        parts.append(np.arange(start, len(sizes)))
    return parts


def pack(arrays: dict[str, np.ndarray], out: Path, quality: int = 75, max_part_mib: float = 36.0,
         teacher_file: Path | None = None, order_seed: int = 0) -> list[Path]:
    """Write ``arrays`` (a prepared dataset) as packed parts ``out/part-NN.npz``.

    Images go into the parts in a seeded random order, so that any one part is a fair sample
    of every identity and data set: a run that only got some parts still trains on a mix.
    Labels stay global, so parts concatenate back into the same dataset.
    """
    n = len(arrays["labels"])
    order = np.random.default_rng(order_seed).permutation(n)
    encoded = encode_crops(arrays["crops"][order], quality)
    sizes = np.array([len(b) for b in encoded])
    per_image = {k: v[order] for k, v in arrays.items() if k not in ("crops", "identities")}
    if teacher_file is not None:
        encodings, per_image["has_teacher"] = teacher_rows(per_image["paths"], teacher_file)
        per_image["teacher"] = encodings.astype(np.float16)  # as the teacher file stores them
    # Room for the per-image arrays (paths dominate) next to the image bytes.
    extra = sum(v.nbytes for v in per_image.values()) / max(n, 1)
    parts = split_parts(sizes + int(extra), int(max_part_mib * 2**20) - arrays["identities"].nbytes)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, index in enumerate(parts):
        offsets = np.concatenate([[0], np.cumsum(sizes[index])]).astype(np.int64)
        blob = np.frombuffer(b"".join(encoded[i] for i in index), np.uint8)
        part = {BLOB: blob, OFFSETS: offsets, "identities": arrays["identities"],
                **{k: v[index] for k, v in per_image.items()}}
        path = out / f"part-{number:02d}.npz"
        save_dataset(path, part)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training pack", description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="prepared dataset (.npz from 'prepare')")
    parser.add_argument("--out", type=Path, required=True, help="folder for part-NN.npz")
    parser.add_argument("--teacher", type=Path, help="teacher encodings (.npz with paths, encodings) to pack alongside")
    parser.add_argument("--quality", type=int, default=75, help="WebP quality, 1-100")
    parser.add_argument("--max-part-mib", type=float, default=36.0, help="largest part file, MiB")
    args = parser.parse_args(argv)
    arrays = load_dataset(args.data)
    written = pack(arrays, args.out, args.quality, args.max_part_mib, args.teacher)
    total = sum(p.stat().st_size for p in written)
    raw = arrays["crops"].nbytes
    print(f"{len(arrays['labels'])} faces -> {len(written)} part(s) in {args.out}, {total / 2**20:.1f} MiB "
          f"({raw / max(total, 1):.0f}x smaller than the raw crops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
