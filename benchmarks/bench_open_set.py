"""Open-set identification on in-the-wild photos: the old rule (nearest template under the 1:1
threshold) against the open-set rule of ``faceapp.decide`` (FPIR level for the gallery's size,
margin, judge limits), at the default settings (the card's cohort included, as the app judges).

``../shared/datasets/celeba-wild-dev`` (never used for calibration): in each of ``--splits``
random splits, ``--enrolled`` people are enrolled from 2 photos each, their other photos are
probes, and every photo of the people left over is a stranger. Prints, averaged over splits:
closed-set rank-1 (the nearest person is right), named right (rank-1 and given the name),
named wrong, and strangers rejected (given no name).

    python benchmarks/bench_open_set.py [--fpir 0.01] [--enrolled 60] [--splits 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_MODEL, SHARED


def encode_all(pipeline, root: Path):
    """Each photo's central face: encoding, FaceQuality and person (photos without a face are counted)."""
    from faceapp.images import list_images, load_image

    encodings, qualities, people, missed = [], [], [], 0
    for folder in sorted(d for d in root.iterdir() if d.is_dir()):
        for path in list_images(folder):
            encoded = pipeline.encode_central(load_image(path))
            if encoded is None:
                missed += 1
                continue
            encodings.append(encoded.encoding)
            qualities.append(encoded.quality)
            people.append(folder.name)
    return np.stack(encodings), qualities, np.asarray(people), missed


def one_split(encodings, qualities, people, enrolled_count: int, rng, rules: dict, cohort=None):
    from faceapp.decide import decide_many
    from faceapp.match import Gallery

    ids = np.unique(people)
    enrolled = rng.choice(ids, enrolled_count, replace=False)
    rows, owners, probes = [], [], []
    for number, person in enumerate(enrolled):
        photos = rng.permutation(np.nonzero(people == person)[0])
        rows += list(photos[:2])
        owners += [number, number]
        probes += list(photos[2:])
    gallery = Gallery(encodings[rows], np.asarray(owners), dict(enumerate(enrolled)), "bench", cohort=cohort)
    strangers = np.nonzero(~np.isin(people, enrolled))[0]
    probes = np.asarray(probes)
    figures = {}
    for label, rule in rules.items():
        decided = decide_many(encodings[probes], gallery, rule, [qualities[i] for i in probes])
        named = np.array([d.accepted for d in decided])
        right = np.array([d.name == people[i] for d, i in zip(decided, probes)])
        rank1 = _rank1(encodings[probes], gallery, people[probes])
        strangers_named = decide_many(encodings[strangers], gallery, rule, [qualities[i] for i in strangers])
        rejected = 1 - np.mean([d.accepted for d in strangers_named])
        figures[label] = (rank1, float(np.mean(named & right)), float(np.mean(named & ~right)), rejected)
    return figures


def _rank1(queries, gallery, truth) -> float:
    from faceapp.match import best_two_people

    best, _, _, _ = best_two_people(queries, gallery)
    people = gallery.people  # best_two_people's rows are rows of the one-row-per-person gallery
    return float(np.mean([people.names[int(people.person_ids[b])] == t for b, t in zip(best, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument("--data", type=Path, help="default: ../shared/datasets/celeba-wild-dev")
    parser.add_argument("--enrolled", type=int, default=60)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--fpir", help="the card's FPIR level (default: the card's default)")
    args = parser.parse_args()

    from faceapp.app.config import resolve_config
    from faceapp.app.recognition import identify_rule
    from faceapp.decide import JudgeLimits, OpenSetRule
    from faceapp.pipeline import open_pipeline

    config = resolve_config({"model_path": args.model, "fpir_level": args.fpir}, {}, {})
    pipeline = open_pipeline(config.model_path, args.detector_model, "cpu", threads=args.threads or None)
    root = args.data or SHARED / "datasets" / "celeba-wild-dev"
    encodings, qualities, people, missed = encode_all(pipeline, root)
    print(f"{len(encodings)} faces of {len(np.unique(people))} people ({missed} photos without a face); "
          f"{args.enrolled} enrolled from 2 photos each, {args.splits} splits")
    no_limits = JudgeLimits(0.0, 0.0, float("inf"), 0.0)
    after = identify_rule(config)
    rules = {
        f"before: nearest under the 1:1 threshold {config.threshold:.4f}": OpenSetRule(config.threshold, limits=no_limits),
        f"after: FPIR {config.open_set_level}, threshold {after.threshold_for(args.enrolled):.4f} for "
        f"{args.enrolled} people, margin {after.min_margin:g}, judge limits": after,
    }
    rng = np.random.default_rng(0)
    totals = {label: [] for label in rules}
    for _ in range(args.splits):
        for label, figures in one_split(encodings, qualities, people, args.enrolled, rng, rules, pipeline.cohort).items():
            totals[label].append(figures)
    for label, rows in totals.items():
        rank1, right, wrong, rejected = np.mean(rows, axis=0)
        print(f"{label}\n  rank-1 {rank1:.3f}  named right {right:.3f}  named wrong {wrong:.3f}  "
              f"strangers rejected {rejected:.3f}")


if __name__ == "__main__":
    main()
