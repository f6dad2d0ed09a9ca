"""What storing an aligned face crop costs and loses: bytes per crop, PSNR and how far the encoding moves.

    python benchmarks/bench_crops.py [--model assets/faceapp-encoder.json] \
        [--detector-model ../shared/models/yunet.onnx] [--count 500] [--crops data/train.npz]

Formats: lossless WebP (what a template keeps, ``faceapp.images.encode_lossless``), JPEG at
quality 95 and WebP at quality 75 (what ``python -m training pack`` uses by default). The
crops are LFW View 1 photos detected with YuNet and aligned, as the app aligns enrollment
photos, or ``--count`` crops spread evenly over a prepared or packed dataset (``--crops``). The
encoding shift is the Euclidean distance between the shipped encoder's encodings of a crop
and of its decoded copy. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_LFW, DEFAULT_MODEL, machine, table


def lfw_crops(lfw_dir: Path, detector_model: Path, count: int) -> np.ndarray:
    """Aligned crops of the first ``count`` LFW images (every photo of each person, in name order)."""
    from faceapp.align import align_face, center_crop_face
    from faceapp.detect import YuNetDetector, detect_in_crop, pick_central
    from faceapp.evaluate import LFW_FALLBACK_FRACTION
    from faceapp.images import list_images, load_image

    detector = YuNetDetector(detector_model)
    crops = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        for path in list_images(person):
            image = load_image(path)
            face = pick_central(detect_in_crop(detector, image), image.shape)
            crops.append(align_face(image, face.landmarks) if face else center_crop_face(image, LFW_FALLBACK_FRACTION))
            if len(crops) == count:
                return np.stack(crops)
    return np.stack(crops)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card (default: the shipped one)")
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--count", type=int, default=500, help="crops to measure")
    parser.add_argument("--crops", type=Path, help="take aligned crops from a prepared or packed dataset instead of LFW")
    args = parser.parse_args(argv)

    from faceapp.embed import load_encoder
    from faceapp.images import decode_image, encode_jpeg, encode_lossless, encode_webp

    print(machine())
    if args.crops:
        from training.prepare import load_dataset

        every = load_dataset(args.crops)["crops"]
        crops = every[np.unique(np.linspace(0, len(every) - 1, args.count).astype(int))]  # spread over the whole set
        source = f"{args.crops} ({len(crops)} of its {len(every)} crops, evenly spaced)"
    else:
        crops = lfw_crops(args.lfw, args.detector_model, args.count)
        source = f"{args.lfw} ({len(crops)} aligned crops)"
    encoder = load_encoder(args.model, device="cpu")
    reference = encoder.embed(crops)
    formats = {
        "lossless WebP (kept crop)": encode_lossless,
        "JPEG quality 95": lambda crop: encode_jpeg(crop, 95),
        "WebP quality 75 (training pack)": lambda crop: encode_webp(crop, 75),
    }
    rows = []
    for name, encode in formats.items():
        data = [encode(crop) for crop in crops]
        decoded = np.stack([decode_image(d) for d in data])
        shift = np.linalg.norm(encoder.embed(decoded) - reference, axis=1)
        rows.append((name, f"{np.median([len(d) for d in data]) / 1000:.1f}", f"{np.mean([len(d) for d in data]) / 1000:.1f}",
                     f"{psnr(crops, decoded):.1f}", f"{np.median(shift):.4f}", f"{shift.max():.4f}"))
    raw = crops[0].nbytes
    print(f"crops: {source}; a raw {crops.shape[1]}x{crops.shape[2]} RGB crop is {raw / 1000:.1f} KB; "
          f"encoder {encoder.model_id}")
    print(table(["format", "median KB", "mean KB", "PSNR dB", "median shift", "max shift"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
