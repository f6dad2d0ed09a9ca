"""A face against each person's nearest template (the first rule), against their mean template,
and against the mean with the distance adjusted by the face's crowding (``faceapp.cohort``: what
``faceapp.match`` does now), compared where it is fair: at the same share of strangers rejected,
so no rule gains by simply accepting more.

- **In-the-wild photos** (``../shared/datasets/celeba-wild-dev``, never used for calibration):
  in each of ``--splits`` random splits, people with at least K + 2 photos are enrolled from K
  of them (60 people for K = 2, 50 otherwise); their other photos are probes and every photo of
  the people left over is a stranger. Prints closed-set rank-1 and the share of probes named
  right where the threshold rejects 90, 92, 95 and 99% of strangers.
- **A webcam clip** (``../shared/videos``): person E enrolled from K random frames of one clip,
  his face in every frame of the other clip as probes, the in-the-wild photos as strangers;
  the share of his frames named where the threshold rejects 95, 98 and 99% of strangers.

    python benchmarks/bench_person_mean.py [--splits 20] [--threads 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench_open_set import encode_all
from common import DEFAULT_DETECTOR, DEFAULT_MODEL, SHARED


def distances(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(2 - 2 * queries @ rows.T, 0))


def nearest_template(queries: np.ndarray, templates: np.ndarray) -> np.ndarray:
    return distances(queries, templates).min(axis=1)


def person_mean(queries: np.ndarray, templates: np.ndarray) -> np.ndarray:
    mean = templates.sum(axis=0)
    return distances(queries, (mean / np.linalg.norm(mean))[None])[:, 0]


def rules(cohort) -> dict:
    found = {"nearest template": nearest_template, "mean template": person_mean}
    if cohort is not None:
        known: dict[bytes, np.ndarray] = {}  # each split asks about the same faces once per person

        def crowding(queries: np.ndarray) -> np.ndarray:
            key = queries.tobytes()
            if key not in known:
                known[key] = cohort.crowding(queries)
            return known[key]

        found["mean template + cohort (now)"] = lambda queries, templates: cohort.adjust(
            person_mean(queries, templates), crowding(queries))
    return found


def named_at_rejection(probe_d: np.ndarray, correct: np.ndarray, stranger_d: np.ndarray, levels) -> list[float]:
    """Share of probes named right where the threshold rejects each level of strangers."""
    return [float(np.mean(correct & (probe_d < np.quantile(stranger_d, 1 - level)))) for level in levels]


def wild(encodings: np.ndarray, people: np.ndarray, photos: int, splits: int, rule) -> np.ndarray:
    levels = (0.90, 0.92, 0.95, 0.99)
    counts = {p: int(np.sum(people == p)) for p in np.unique(people)}
    eligible = np.array([p for p, n in counts.items() if n >= photos + 2])
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(splits):
        enrolled = rng.choice(eligible, min(60 if photos == 2 else 50, len(eligible)), replace=False)
        galleries, probes, truth = [], [], []
        for number, person in enumerate(enrolled):
            mine = rng.permutation(np.nonzero(people == person)[0])
            galleries.append(encodings[mine[:photos]])
            probes += list(mine[photos:])
            truth += [number] * (len(mine) - photos)
        strangers = encodings[~np.isin(people, enrolled)]
        probe_d = np.stack([rule(encodings[probes], g) for g in galleries], axis=1)
        stranger_d = np.stack([rule(strangers, g) for g in galleries], axis=1).min(axis=1)
        correct = probe_d.argmin(axis=1) == np.array(truth)
        rows.append([correct.mean(), *named_at_rejection(probe_d.min(axis=1), correct, stranger_d, levels)])
    return np.mean(rows, axis=0)


def clip_faces(pipeline, clip: Path) -> np.ndarray:
    """The encoding of the largest confident face of every frame that has one."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    found = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        faces = [d for d in pipeline.find_faces(image) if d.score >= 0.9]
        if faces:
            face = max(faces, key=lambda d: d.box[2] * d.box[3])
            found.append(pipeline.encode(image, [face])[0].encoding)
    return np.stack(found)


def webcam(enroll_from: np.ndarray, probes: np.ndarray, strangers: np.ndarray, photos: int, rule) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(50):
        gallery = enroll_from[rng.choice(len(enroll_from), photos, replace=False)]
        probe_d, stranger_d = rule(probes, gallery), rule(strangers, gallery)
        rows.append(named_at_rejection(probe_d, np.ones(len(probes), bool), stranger_d, (0.95, 0.98, 0.99)))
    return np.mean(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument("--splits", type=int, default=20)
    args = parser.parse_args()

    from faceapp.app.config import resolve_config
    from faceapp.pipeline import open_pipeline

    config = resolve_config({"model_path": args.model}, {}, {})
    pipeline = open_pipeline(config.model_path, args.detector_model, "cpu", threads=args.threads or None)
    encodings, _, people, _ = encode_all(pipeline, SHARED / "datasets" / "celeba-wild-dev")
    encodings = encodings.astype(np.float64)
    print(f"in the wild: {len(encodings)} faces of {len(np.unique(people))} people, {args.splits} splits")
    print("photos  rule                        rank-1  named right at 90 / 92 / 95 / 99% of strangers rejected")
    for photos in (2, 3, 5):
        for label, rule in rules(pipeline.cohort).items():
            rank1, *named = wild(encodings, people, photos, args.splits, rule)
            print(f"{photos:>6}  {label:<28}  {rank1:.3f}   " + " / ".join(f"{x:.3f}" for x in named))
    enroll_from = clip_faces(pipeline, SHARED / "videos" / "person-e-hungry.mkv").astype(np.float64)
    probes = clip_faces(pipeline, SHARED / "videos" / "person-e-want.mkv").astype(np.float64)
    print(f"\nwebcam: E enrolled from frames of person-e-hungry ({len(enroll_from)} with a face), his "
          f"{len(probes)} face frames of person-e-want as probes, the {len(encodings)} photos above as strangers")
    print("frames  rule                        E named at 95 / 98 / 99% of strangers rejected")
    for photos in (3, 5):
        for label, rule in rules(pipeline.cohort).items():
            named = webcam(enroll_from, probes, encodings, photos, rule)
            print(f"{photos:>6}  {label:<28}  " + " / ".join(f"{x:.3f}" for x in named))


if __name__ == "__main__":
    main()
