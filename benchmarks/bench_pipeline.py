"""Per-frame latency of the whole pipeline, stage by stage; faces moving through a clip with
tracking on and off; and gallery load time from SQLite.

    python benchmarks/bench_pipeline.py [--detector-model ../shared/models/yunet.onnx] \
        [--model assets/faceapp-encoder.json] [--frames 100] [--gallery 1000] [--moving 1 3 5] [--threads N] \
        [--load-sizes 10000 100000 1000000] [--load-repeats 5] [--no-frames]

Frames are 640x480 with one face: LFW photos (250x250) placed at varying spots on a dark
canvas, run through Pipeline.process as live frames (no still-photo padding retry) against
a gallery of random unit templates. Stage times come from FrameResult.timings_ms.

Moving faces: clips of ``--frames`` frames in which 1, 3 or 5 LFW people (photos scaled to
150x150) drift across the frame on their own paths, run through ``faceapp.follow.FaceFollower``
with tracking on (a face is re-encoded only while its track is new, every few frames, or for a
better view) and off (every face of every frame encoded and decided alone). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
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
    threshold = pipeline.encoder.card.default_threshold
    for image in images[:5]:  # warm-up: first calls allocate and pick kernels
        pipeline.process(Frame(image, -1, 0.0), gallery, threshold)
    stages = ["detect", "align", "embed", "match"]
    times: dict[str, list[float]] = {s: [] for s in stages + ["total"]}
    faces = []
    for index, image in enumerate(images):
        started = time.perf_counter()
        result = pipeline.process(Frame(image, index, time.monotonic()), gallery, threshold)
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


def moving_clip(lfw_dir: Path, faces: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` 640x480 frames of ``faces`` LFW people (150x150 photos) each drifting on its own
    straight path, bouncing off the edges, a few pixels per frame."""
    import cv2

    from faceapp.images import list_images, load_image

    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[::7][:faces]
    photos = [cv2.resize(load_image(list_images(p)[0]), (150, 150), interpolation=cv2.INTER_AREA) for p in people]
    rng = np.random.default_rng(seed)
    columns = np.linspace(0, 640 - 150, faces) if faces > 1 else np.array([245.0])
    position = np.stack([columns, rng.uniform(0, 480 - 150, faces)], axis=1)
    velocity = rng.uniform(-4, 4, (faces, 2))
    frames = []
    for _ in range(count):
        canvas = np.full((480, 640, 3), 30, np.uint8)
        for photo, (x, y) in zip(photos, position.astype(int)):
            canvas[y : y + 150, x : x + 150] = photo
        frames.append(canvas)
        position += velocity
        bounce = (position < 0) | (position > np.array([640 - 150, 480 - 150]))
        velocity[bounce] *= -1
        position = np.clip(position, 0, [640 - 150, 480 - 150])
    return frames


def bench_moving(args: argparse.Namespace) -> None:
    from faceapp.decide import OpenSetRule
    from faceapp.detect import YuNetDetector
    from faceapp.embed import load_encoder
    from faceapp.follow import FaceFollower, FollowSettings
    from faceapp.pipeline import Pipeline
    from faceapp.types import Frame

    pipeline = Pipeline(YuNetDetector(args.detector_model), load_encoder(args.model, device="cpu"))
    gallery = random_gallery(args.gallery, pipeline.encoder.dim, pipeline.model_id)
    rule = OpenSetRule(cap=pipeline.encoder.card.default_threshold)
    rows = []
    for faces in args.moving:
        clip = moving_clip(args.lfw, faces, args.frames)
        for tracking in (False, True):
            follower = FaceFollower(pipeline, rule, FollowSettings(tracking=tracking))
            for image in clip[:3]:  # warm-up
                follower.process(Frame(image, -1, 0.0), gallery)
            follower.reset()
            times, encoded, found, tracks = [], 0, 0, set()
            for index, image in enumerate(clip):
                started = time.perf_counter()
                result = follower.process(Frame(image, index, index / 30), gallery)
                times.append((time.perf_counter() - started) * 1000)
                encoded += result.encoded
                found += len(result.faces)
                tracks |= {f.match.track for f in result.faces if f.match.track is not None}
            rows.append((faces, "on" if tracking else "off", percentile(times, 50), percentile(times, 90),
                         found / len(clip), encoded / len(clip), len(tracks) if tracking else "-"))
    print(f"faces moving through a {args.frames}-frame 640x480 clip, gallery {len(gallery):,} templates")
    print(table(["faces", "tracking", "median ms", "p90 ms", "faces/frame", "encoded/frame", "tracks"], rows))


def resident_mib() -> float:
    """This process's resident memory now (Linux; NaN elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


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
            del encodings
            opens, loads, held = [], [], []
            for _ in range(args.load_repeats):
                before = resident_mib()
                started = time.perf_counter()
                with open_store(path, create=False) as store:  # a fresh connection, as the app starts
                    opened = time.perf_counter()
                    gallery = store.gallery("bench-model")
                loads.append((time.perf_counter() - opened) * 1000)
                opens.append((opened - started) * 1000)
                held.append(resident_mib() - before)
                assert len(gallery) == size
                nbytes = gallery.nbytes
                del gallery
            rows.append((f"{size:,}", size // per_person, path.stat().st_size / 2**20, enroll_s,
                         percentile(opens, 50), loads[0], percentile(loads, 50), nbytes / 2**20, percentile(held, 50)))
            path.unlink()
    print(f"gallery load from SQLite ({args.load_repeats} loads of 128-D float32 templates, {per_person} per person; "
          f"load average {os.getloadavg()[0]:.2f}): open_store (its integrity check reads the whole file), "
          "then GalleryStore.gallery; the Gallery's own bytes (float32 rows, ids, int8 copy) and the "
          "process's resident growth while it is held")
    print(table(["templates", "people", "db MiB", "enroll s", "open ms", "first gallery ms", "median gallery ms",
                 "Gallery MiB", "resident MiB"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card (default: the shipped one)")
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder the frames' faces come from")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--gallery", type=int, default=1000, help="templates in the gallery matched against")
    parser.add_argument("--load-sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--load-repeats", type=int, default=5, help="loads timed per size (medians)")
    parser.add_argument("--no-frames", action="store_true", help="skip the per-frame timing (with an empty --moving: loads only)")
    parser.add_argument("--moving", type=int, nargs="*", default=[1, 3, 5], help="faces per moving clip")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(machine())
    if not args.no_frames:
        bench_frames(args)
        print()
    if args.moving:
        bench_moving(args)
        print()
    if args.load_sizes:
        bench_gallery_load(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
