"""Prepare: detect + align a folder of identity subfolders into one compact dataset file.

Uses the app's own detector and :func:`faceapp.align.align_face`, so training sees exactly
the crops the app feeds the encoder. Images where no face is found fall back to a centre
crop (when ``--fallback center``) or are skipped; either way they are counted and reported.

Output (``.npz``): ``crops`` (N, 112, 112, 3) uint8 RGB, ``labels`` (N,) int32,
``identities`` (names, indexed by label), ``paths`` (provenance, relative to ``--root``),
``method`` (N,) uint8: 0 detected, 1 centre-crop fallback.

``--unlabelled`` reads each dataset as one folder of images without identities (such as
``utkface-unlabelled/``): every label is ``UNLABELLED`` (-1) and ``identities`` is empty, so
such faces can only ever teach through the teacher, never through an identity loss.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceapp.align import align_face, center_crop_face
from faceapp.detect import Detector, detect_in_crop, load_detector, pick_central
from faceapp.errors import ImageError
from faceapp.images import list_images, load_image

DETECTED, FALLBACK = 0, 1
UNLABELLED = -1  # the label of a face whose identity is unknown (training.data keeps them apart)


@dataclass
class PrepareReport:
    images: int = 0
    detected: int = 0
    fallback: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable or no face (no fallback)

    def summary(self) -> str:
        return (
            f"{self.images} images: {self.detected} faces detected and aligned, "
            f"{self.fallback} not found and centre-cropped, {len(self.skipped)} skipped"
        )


def prepare_image(detector: Detector, image: np.ndarray, fallback: bool) -> tuple[np.ndarray | None, int]:
    """One aligned crop for an image of one person, and how it was obtained."""
    face = pick_central(detect_in_crop(detector, image), image.shape)
    if face is not None:
        return align_face(image, face.landmarks), DETECTED
    if fallback:
        return center_crop_face(image), FALLBACK
    return None, FALLBACK


def identity_folders(dataset: Path) -> list[Path]:
    return sorted((p for p in dataset.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def prepare(
    datasets: list[Path],
    root: Path,
    detector: Detector,
    fallback: bool = True,
    limit_identities: int | None = None,
    min_images: int = 2,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], PrepareReport]:
    """Detect and align every image of every identity in ``datasets``; returns arrays and a report."""
    crops, labels, paths, methods, names = [], [], [], [], []
    report = PrepareReport()
    started = time.monotonic()
    for dataset in datasets:
        folders = identity_folders(dataset)[:limit_identities]
        for number, folder in enumerate(folders):
            person_crops = []
            for path in list_images(folder):
                report.images += 1
                rel = str(path.relative_to(root))
                try:
                    image = load_image(path)
                except ImageError:
                    report.skipped.append(rel)
                    continue
                crop, method = prepare_image(detector, image, fallback)
                if crop is None:
                    report.skipped.append(rel)
                    continue
                person_crops.append((crop, rel, method))
            if len(person_crops) < min_images:
                continue
            label = len(names)
            names.append(f"{dataset.name}/{folder.name}")
            for crop, rel, method in person_crops:
                crops.append(crop)
                labels.append(label)
                paths.append(rel)
                methods.append(method)
                report.detected += method == DETECTED
                report.fallback += method == FALLBACK
            if progress and number % 200 == 0:
                rate = report.images / max(time.monotonic() - started, 1e-6)
                print(f"  {dataset.name}: {number}/{len(folders)} identities, {rate:.0f} images/s", file=sys.stderr, flush=True)
    arrays = {
        "crops": np.stack(crops) if crops else np.zeros((0, 112, 112, 3), np.uint8),
        "labels": np.asarray(labels, np.int32),
        "identities": np.asarray(names),
        "paths": np.asarray(paths),
        "method": np.asarray(methods, np.uint8),
    }
    return arrays, report


def prepare_unlabelled(folder: Path, root: Path, detector: Detector, fallback: bool = True,
                       limit: int | None = None, progress: bool = True) -> tuple[dict[str, np.ndarray], PrepareReport]:
    """Detect and align every image of a folder of faces without identity labels."""
    crops, paths, methods = [], [], []
    report = PrepareReport()
    started = time.monotonic()
    for number, path in enumerate(list_images(folder)[:limit]):
        report.images += 1
        rel = str(path.relative_to(root))
        try:
            crop, method = prepare_image(detector, load_image(path), fallback)
        except ImageError:
            crop, method = None, FALLBACK
        if crop is None:
            report.skipped.append(rel)
            continue
        crops.append(crop)
        paths.append(rel)
        methods.append(method)
        report.detected += method == DETECTED
        report.fallback += method == FALLBACK
        if progress and number % 2000 == 0:
            rate = report.images / max(time.monotonic() - started, 1e-6)
            print(f"  {folder.name}: {number} images, {rate:.0f} images/s", file=sys.stderr, flush=True)
    arrays = {
        "crops": np.stack(crops) if crops else np.zeros((0, 112, 112, 3), np.uint8),
        "labels": np.full(len(crops), UNLABELLED, np.int32),
        "identities": np.zeros((0,), "<U1"),
        "paths": np.asarray(paths),
        "method": np.asarray(methods, np.uint8),
    }
    return arrays, report


def save_dataset(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically: a killed run never leaves a half-written dataset behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as handle:
        np.savez(handle, **arrays)
    partial.replace(path)


def load_dataset(path: Path) -> dict[str, np.ndarray]:
    """A prepared .npz, or a packed part (``training.pack``) decoded back into crops."""
    from .pack import is_packed, unpack

    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return unpack(arrays) if is_packed(arrays) else arrays


def load_datasets(paths: list[Path]) -> dict[str, np.ndarray]:
    """Several files of one dataset (packed parts) joined; their identity lists must agree."""
    parts = [load_dataset(path) for path in paths]
    for path, part in zip(paths[1:], parts[1:]):
        if not np.array_equal(part["identities"], parts[0]["identities"]):
            raise ValueError(f"{path} was packed from a different dataset than {paths[0]}")
    joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0] if key != "identities"}
    joined["identities"] = parts[0]["identities"]
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training prepare", description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="folders of identity subfolders")
    parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    parser.add_argument("--root", type=Path, help="paths are stored relative to this (default: parent of the first dataset)")
    parser.add_argument("--detector-model", type=Path, help="YuNet .onnx (default: $FACEAPP_DETECTOR_MODEL, else the copy shipped in assets/)")
    parser.add_argument("--no-fallback", action="store_true", help="skip images with no detected face instead of centre-cropping")
    parser.add_argument("--limit-identities", type=int, help="take only the first N identities of each dataset")
    parser.add_argument("--min-images", type=int, default=2, help="drop identities with fewer usable images")
    parser.add_argument("--unlabelled", action="store_true",
                        help="each dataset is one folder of faces without identities (teacher terms only, label -1)")
    args = parser.parse_args(argv)
    for dataset in args.datasets:
        if any(part.lower().startswith("lfw") for part in dataset.resolve().parts):
            parser.error(f"{dataset}: LFW is the benchmark and is never prepared for training")
    detector = load_detector(args.detector_model)
    root = args.root or args.datasets[0].resolve().parent
    if args.unlabelled:
        parts = [prepare_unlabelled(d.resolve(), root.resolve(), detector, not args.no_fallback) for d in args.datasets]
        arrays = {key: np.concatenate([part[key] for part, _ in parts]) for key in parts[0][0]}
        report = PrepareReport(sum(r.images for _, r in parts), sum(r.detected for _, r in parts),
                               sum(r.fallback for _, r in parts), [s for _, r in parts for s in r.skipped])
    else:
        arrays, report = prepare([d.resolve() for d in args.datasets], root.resolve(), detector, not args.no_fallback,
                                 args.limit_identities, args.min_images)
    save_dataset(args.out, arrays)
    print(f"{report.summary()}; {len(arrays['identities'])} identities -> {args.out}")
    for rel in report.skipped[:20]:
        print(f"  skipped: {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
