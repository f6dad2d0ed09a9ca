"""Per-frame latency of the whole pipeline, stage by stage, and gallery load time from SQLite.

    python benchmarks/bench_pipeline.py [--detector-model ../shared/models/yunet.onnx] \
        [--model assets/faceapp-encoder.json] [--frames 100] [--gallery 1000] [--load-sizes 10000 100000] \
        [--threads N]

Frames are 640x480 with one face: LFW photos (250x250) placed at varying spots on a dark
canvas, run through Pipeline.process as live frames (no still-photo padding retry) against
a gallery of random unit templates. Stage times come from FrameResult.timings_ms. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_LFW, DEFAULT_MODEL, machine, percentile, set_threads, table, unit_rows


def make_frames(lfw_dir: Path, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` 640x480 RGB frames, each one LFW photo pasted at a random position."""
    from faceapp.images import list_images, load_image

    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    photos = [list_images(person)[0] for person in people[:count]]
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        photo = load_image(photos[i % len(photos)])
        canvas = np.full((480, 640, 3), 30, np.uint8)
        y, x = int(rng.integers(0, 480 - 250)), int(rng.integers(0, 640 - 250))
        canvas[y : y + 250, x : x + 250] = photo
        frames.append(canvas)
    return frames


def random_gallery(size: int, dim: int, model_id: str, per_person: int = 4, seed: int = 1):
    from faceapp.match import Gallery

    people = max(1, size // per_person)
    ids = np.arange(size, dtype=np.int64) % people
    return Gallery(unit_rows(np.random.default_rng(seed), size, dim), ids, {i: f"person {i}" for i in range(people)}, model_id)


def bench_frames(args: argparse.Namespace) -> None:
    from faceapp.detect import YuNetDetector
    from faceapp.embed import load_encoder
    from faceapp.pipeline import Pipeline
    from faceapp.types import Frame

    pipeline = Pipeline(YuNetDetector(args.detector_model), load_encoder(args.model, device="cpu"))
    gallery = random_gallery(args.gallery, pipeline.encoder.dim, pipeline.model_id)
    images = make_frames(args.lfw, args.frames)
    for image in images[:5]:  # warm-up: first calls allocate and pick kernels
        pipeline.process(Frame(image, -1, 0.0), gallery)
    stages = ["detect", "align", "embed", "match"]
    times: dict[str, list[float]] = {s: [] for s in stages + ["total"]}
    faces = []
    for index, image in enumerate(images):
        started = time.perf_counter()
        result = pipeline.process(Frame(image, index, time.monotonic()), gallery)
        times["total"].append((time.perf_counter() - started) * 1000)
        for stage in stages:
            times[stage].append(result.timings_ms[stage])
        faces.append(len(result.faces))
    print(f"pipeline per 640x480 frame: {args.frames} frames, gallery {len(gallery):,} templates, "
          f"model {pipeline.model_id}, detector {args.detector_model.name}")
    print(f"faces found per frame: {np.mean(faces):.2f} on average (each frame shows one LFW photo; a few hold a second face)")
    rows = [(stage, percentile(times[stage], 50), percentile(times[stage], 90)) for stage in stages + ["total"]]
    print(table(["stage", "median ms", "p90 ms"], rows))
    print(f"=> {1000 / percentile(times['total'], 50):.1f} frames/s at the median")


def bench_gallery_load(args: argparse.Namespace) -> None:
    from faceapp.storage import GalleryStore, open_store

    rng = np.random.default_rng(2)
    rows = []
    per_person = 5
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.load_sizes:
            path = Path(tmp) / f"gallery-{size}.db"
            encodings = unit_rows(rng, size)
            started = time.perf_counter()
            store: GalleryStore
            with open_store(path) as store:
                for person, start in enumerate(range(0, size, per_person)):
                    store.enroll(f"person {person}", encodings[start : start + per_person], "bench-model")
            enroll_s = time.perf_counter() - started
            loads = []
            for _ in range(5):
                started = time.perf_counter()
                with open_store(path, create=False) as store:  # a fresh connection, as the app starts
                    gallery = store.gallery("bench-model")
                loads.append((time.perf_counter() - started) * 1000)
                assert len(gallery) == size
            rows.append((f"{size:,}", size // per_person, path.stat().st_size / 2**20, enroll_s, loads[0], percentile(loads, 50)))
            path.unlink()
    print(f"gallery load from SQLite (open_store + GalleryStore.gallery, 128-D float32 templates, {per_person} per person)")
    print(table(["templates", "people", "db MiB", "enroll s", "first load ms", "median load ms"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card (default: the shipped one)")
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder the frames' faces come from")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--gallery", type=int, default=1000, help="templates in the gallery matched against")
    parser.add_argument("--load-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(machine())
    bench_frames(args)
    print()
    if args.load_sizes:
        bench_gallery_load(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
