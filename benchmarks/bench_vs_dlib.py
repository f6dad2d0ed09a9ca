"""faceapp beside face_recognition's dlib pipeline, on the same LFW View 1 pairs and the same CPU.

    pip install dlib-bin face_recognition_models      # the benchmark's own extras, not the app's
    python benchmarks/bench_vs_dlib.py [--pairs ../shared/datasets/lfw-view1/pairsDevTest.txt]

dlib runs as ``face_recognition`` runs it by default: the HOG detector with one upsampling,
5-point landmarks, the ResNet encoder with one jitter, Euclidean distance. faceapp runs its
own pipeline (YuNet, ``align_face``, the shipped encoder as its card says). Each image's face
is the detection nearest the image centre; where a detector finds nothing, that pipeline takes
the central face-sized box, and the failure is counted. Both are scored by faceapp.evaluate's
10-fold protocol; times are medians per image on this machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_LFW, DEFAULT_MODEL, machine, percentile, set_threads, table


def dlib_models() -> Path:
    """face_recognition_models' data folder, found without importing it (its __init__ needs the
    deprecated pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs: pip install dlib-bin face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibPipeline:
    def __init__(self) -> None:
        import dlib

        models = dlib_models()
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def encode(self, image: np.ndarray) -> tuple[np.ndarray, bool, float, float]:
        """(encoding, face found, detect ms, landmarks + encode ms)."""
        started = time.perf_counter()
        boxes = list(self.detector(image, 1))
        detect_ms = (time.perf_counter() - started) * 1000
        h, w = image.shape[:2]
        if boxes:
            box = min(boxes, key=lambda b: (b.center().x - w / 2) ** 2 + (b.center().y - h / 2) ** 2)
        else:
            side = min(h, w) * 0.45  # about the size of an LFW face, centred
            box = self.dlib.rectangle(int(w / 2 - side / 2), int(h / 2 - side / 2), int(w / 2 + side / 2), int(h / 2 + side / 2))
        started = time.perf_counter()
        shape = self.shapes(image, box)
        encoding = np.asarray(self.encoder.compute_face_descriptor(image, shape, 1), np.float32)
        return encoding, bool(boxes), detect_ms, (time.perf_counter() - started) * 1000


class FaceappPipeline:
    def __init__(self, model: Path, detector_model: Path) -> None:
        from faceapp.detect import YuNetDetector
        from faceapp.embed import load_encoder

        self.detector = YuNetDetector(detector_model)
        self.encoder = load_encoder(model, device="cpu")

    def encode(self, image: np.ndarray) -> tuple[np.ndarray, bool, float, float]:
        from faceapp.align import align_face, center_crop_face
        from faceapp.detect import detect_in_crop, pick_central
        from faceapp.evaluate import LFW_FALLBACK_FRACTION

        started = time.perf_counter()
        face = pick_central(detect_in_crop(self.detector, image), image.shape)  # as `faceapp evaluate` does
        detect_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        crop = align_face(image, face.landmarks) if face else center_crop_face(image, LFW_FALLBACK_FRACTION)
        encoding = self.encoder.embed(crop[None])[0]
        return encoding, face is not None, detect_ms, (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_LFW / "pairsDevTest.txt")
    parser.add_argument("--images", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--threads", type=int, default=0, help="faceapp's torch/ONNX Runtime threads (0: one per core)")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    from faceapp.evaluate import lfw_image_path, pair_distances, read_pairs, score_pairs
    from faceapp.images import load_image

    print(machine())
    pairs = read_pairs(args.pairs)
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    pipelines = {"dlib (face_recognition)": DlibPipeline(), "faceapp": FaceappPipeline(args.model, args.detector_model)}
    rows = []
    for name, pipeline in pipelines.items():
        encodings, found, detect_ms, encode_ms = {}, 0, [], []
        for key in keys:
            encoding, ok, d_ms, e_ms = pipeline.encode(load_image(lfw_image_path(args.images, *key)))
            encodings[key] = encoding
            found += ok
            detect_ms.append(d_ms)
            encode_ms.append(e_ms)
        distances, same, folds = pair_distances(pairs, encodings)
        report = score_pairs(distances, same, folds, len(keys) - found, len(keys))
        rows.append((name, f"{report.accuracy:.3f} +- {report.accuracy_std:.3f}", f"{report.auc:.4f}",
                     f"{report.tar_at_far['0.001']:.3f}", f"{len(keys) - found}/{len(keys)}",
                     percentile(detect_ms, 50), percentile(encode_ms, 50)))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(f"LFW View 1 test pairs ({len(pairs)}), images of 250x250")
    print(table(["pipeline", "10-fold accuracy", "AUC", "TAR@FAR1e-3", "no face", "detect ms", "align+encode ms"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
