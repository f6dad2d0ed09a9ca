"""The card's cohort (``faceapp.cohort``): one mean encoding per training identity, and the card's
1:1 thresholds calibrated again on the distances it adjusts.

    python -m training cohort data/train.npz [--model assets/faceapp-encoder.json] [--k 50]
        [--per-identity 3] [--holdout 500] [--seed 0] [--threads N]

Only identities the encoder was trained on go in: the ones ``split_holdout`` held out (the same
``--holdout`` and ``--seed`` as the training run) stay out, because the thresholds are calibrated
on them, and a held-out face would otherwise find its own identity in the cohort. The
``reference`` crowding is the median over those held-out faces: a face more crowded than that
has its distances lengthened, any other keeps them. Each identity's row is the L2-normalised
mean of up to ``--per-identity`` of its crops, stored as float16 (``<card name>-cohort.npy``
next to the card).

Run it again after every export (the cohort is the encoder's own encodings), then
``python -m training.calibrate_open_set ../shared/datasets/celeba-aligned --write`` for the
open-set levels, which read the cohort from the card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceapp.cohort import Cohort
from faceapp.images import file_sha256

DEFAULT_K = 50  # any k from 10 to 200 did about as well on celeba-wild-dev and the webcam clip


def identity_means(encode, crops: np.ndarray, labels: np.ndarray, per_identity: int, seed: int) -> np.ndarray:
    """(I, D) float32: for each identity, the L2-normalised mean encoding of up to ``per_identity``
    of its crops (a seeded draw); ``crops`` may be a memory map, only the drawn rows are read."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    groups = np.split(order, starts[1:])
    drawn = [rng.choice(g, min(per_identity, len(g)), replace=False) for g in groups]
    rows = np.concatenate(drawn)
    taken = np.argsort(rows)  # read the crops in file order
    encoded = encode(np.asarray(crops[rows[taken]]))
    encodings = np.empty_like(encoded)
    encodings[taken] = encoded
    owner = np.repeat(np.arange(len(groups)), [len(d) for d in drawn])
    sums = np.zeros((len(groups), encodings.shape[1]))
    np.add.at(sums, owner, encodings)
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


def make_cohort(rows: np.ndarray, k: int, held_encodings: np.ndarray) -> Cohort:
    """The cohort of ``rows`` with the median crowding of the held-out faces as its reference."""
    probe = Cohort(rows, k, 0.0)
    return Cohort(rows, k, round(float(np.median(probe.crowding(held_encodings))), 5))


def cohort_entry(path: Path, cohort: Cohort, per_identity: int) -> dict:
    return {
        "file": path.name,
        "sha256": file_sha256(path),
        "identities": int(cohort.rows.shape[0]),
        "k": cohort.k,
        "reference": cohort.reference,
        "rows": f"L2-normalised mean encoding of up to {per_identity} crops of each training identity (float16; "
                "no image, no name); the identities held out for calibration are not in it",
        "use": "a face's crowding is its mean cosine to its k most similar rows; every distance from a face being "
               "judged to an enrolled person becomes sqrt(d^2 + 2 max(crowding - reference, 0)) (faceapp.cohort)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training cohort", description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the prepared training set (python -m training prepare)")
    parser.add_argument("--model", type=Path, default=Path("assets/faceapp-encoder.json"), help="model card")
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--per-identity", type=int, default=3)
    parser.add_argument("--holdout", type=int, default=500, help="training's --holdout-identities")
    parser.add_argument("--seed", type=int, default=0, help="the training run's --seed")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    from faceapp.embed import load_encoder

    from .data import load_faceset, split_holdout
    from .export import calibrate

    arrays = np.load(args.data)
    faces = load_faceset({key: arrays[key] for key in ("crops", "labels", "paths")})
    train, held = split_holdout(faces, args.holdout, seed=args.seed)
    encoder = load_encoder(args.model, "cpu", threads=args.threads)
    print(f"{len(np.unique(train.labels))} training identities, {len(held)} held-out faces", flush=True)
    rows = identity_means(encoder.embed, train.crops, train.labels, args.per_identity, args.seed)
    rows = rows.astype(np.float16)
    held_encodings = encoder.embed(held.crops)
    cohort = make_cohort(rows.astype(np.float32), args.k, held_encodings)

    path = args.model.with_name(args.model.stem + "-cohort.npy")
    np.save(path, rows, allow_pickle=False)
    raw = json.loads(args.model.read_text())
    before = raw["thresholds"]["calibration"]["levels"]
    calibration = calibrate(held_encodings, held.labels, cohort)
    raw["cohort"] = cohort_entry(path, cohort, args.per_identity)
    raw["thresholds"]["by_far"] = {level: v["threshold"] for level, v in calibration["levels"].items()}
    raw["thresholds"]["calibration"] = calibration
    raw["thresholds"]["calibrated_on"] = (f"all ordered pairs among {calibration['identities']} CelebA identities held "
                                          "out of training, each distance adjusted by the judged face's crowding")
    args.model.write_text(json.dumps(raw, indent=2) + "\n")
    print(f"wrote {path} ({rows.shape[0]} identities, reference crowding {cohort.reference}) and {args.model}")
    for level, now in calibration["levels"].items():
        was = before.get(level, {})
        print(f"FAR {level}: threshold {was.get('threshold')} -> {now['threshold']}, TAR {was.get('tar')} -> {now['tar']}")
    print("now: python -m training.calibrate_open_set ../shared/datasets/celeba-aligned --write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
