"""The dlib teacher's encodings of the training set: their common component, and which metric suits them.

    python benchmarks/bench_teacher.py data/train.npz [--teacher ../shared/datasets/teacher-dlib.npz]

Splits the prepared training set exactly as ``python -m training train`` does (500 CelebA
identities held out, seed 0) and prints, from the teacher's encodings alone (no student):
the cosine between the training set's mean teacher encoding and each training image's
encoding (why ``training.data.center_teacher`` centres the targets), and the best-threshold
accuracy on the held-out pairs that training validates on, by raw Euclidean distance (dlib's
own metric) and by cosine on centred encodings (why ``training.losses.teacher_distance_loss``
exists). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common import SHARED, table


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="+", help="prepared training set (.npz from 'prepare'), or its packed parts")
    parser.add_argument("--teacher", type=Path, default=SHARED / "datasets" / "teacher-dlib.npz")
    parser.add_argument("--holdout-identities", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from training.data import attach_teacher, load_faceset, split_holdout
    from training.engine import holdout_pairs, pair_accuracy
    from training.prepare import load_datasets

    faces, missing = attach_teacher(load_faceset(load_datasets(args.data)), args.teacher)
    train, held = split_holdout(faces, args.holdout_identities, seed=args.seed)
    mean = train.teacher.mean(0)
    cosine = unit(train.teacher.astype(np.float64)) @ (mean / np.linalg.norm(mean))
    print(f"{len(train)} training images ({missing} without a teacher encoding, dropped), "
          f"{len(held)} held-out images of {len(np.unique(held.labels))} identities")
    print(f"cosine of the mean teacher encoding with each training encoding: median {np.median(cosine):.3f}, "
          f"mean {cosine.mean():.3f}, 10th percentile {np.percentile(cosine, 10):.3f}")
    pairs = holdout_pairs(held.labels, seed=args.seed)  # the pairs training validates on
    rows = [
        ("raw Euclidean (dlib's metric)", f"{pair_accuracy(held.teacher, *pairs):.4f}"),
        ("cosine on centred encodings", f"{pair_accuracy(unit(held.teacher - mean), *pairs):.4f}"),
        ("cosine on raw encodings", f"{pair_accuracy(unit(held.teacher), *pairs):.4f}"),
    ]
    print(f"teacher alone on the held-out pairs ({int(pairs[2].sum())} genuine, {int((~pairs[2]).sum())} impostor), "
          "accuracy at the best threshold:")
    print(table(["distance", "accuracy"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
