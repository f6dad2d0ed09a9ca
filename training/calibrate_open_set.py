"""Calibrate the open-set (1:N) rule of ``faceapp.decide`` and write it into a model card.

From the identities held out of training (the CelebA people ``split_holdout`` drew with the
run's seed; never LFW, ``celeba-wild-dev`` or the videos, which are benchmarks), embedded by
the card's own encoder exactly as the app embeds faces:

- **impostor person-distances**: a face's distance to another person enrolled from two of their
  photos (the normalised mean of the two, as ``faceapp.match`` compares a face with a person),
  over every face and every other held-out person, with up to ``MAX_PAIRS`` pairs of that
  person's photos weighted equally;
- **FPIR levels**: for a gallery of N people, the threshold ``t`` with
  ``1 - (1 - F(t))**N = FPIR``, F the impostor CDF above (strangers' distances to different
  people taken as independent; the script checks that on simulated galleries). Where F is too
  small to read off the data (large galleries, strict levels), ``log F`` is extended linearly
  in the distance from the measured tail, and the card says which entries were;
- **the margin**: the best-to-runner-up margin below which a name given at the 1:1 default
  threshold, in a gallery of every held-out person, is more likely wrong than right.

    python -m training.calibrate_open_set ../shared/datasets/celeba-aligned --write

prints the tables and, with ``--write``, stores them in the card under ``thresholds.open_set``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceapp.cohort import Cohort

FPIR_LEVELS = ("0.1", "0.05", "0.03", "0.02", "0.01", "0.001")
DEFAULT_FPIR = "0.05"  # the target is >= 92% of strangers rejected; 0.05 leaves room
GALLERY_SIZES = (1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000)
TEMPLATES = 2  # photos per simulated enrolled person
MAX_PAIRS = 12  # enrollment pairs drawn per held-out person for the impostor distribution
MIN_TAIL_COUNT = 20  # impostors below a threshold for F there to count as measured
MEANING = ("FPIR (false-positive identification rate): the share of people who are NOT enrolled that get "
           "some enrolled person's name, for a gallery of that many people each enrolled from 2 photos (compared "
           "with the normalised mean of the two, as the app compares a face with a person). The app "
           "interpolates between the gallery sizes in log(N) and never goes above the 1:1 threshold (--far). "
           "min_margin: the best person must be nearer than the next person by this much, else the face stays Unknown.")


def held_out_faces(dataset: Path, holdout: int, seed: int, detector) -> tuple[np.ndarray, np.ndarray, list]:
    """Aligned crops, labels and FaceQuality (None where no face was found) of the held-out
    identities, as ``training.prepare`` and ``training.data.split_holdout`` made them (identity
    folders in name order, one label each)."""
    from faceapp.detect import detect_in_crop, pick_central
    from faceapp.images import list_images, load_image
    from faceapp.quality import assess

    from .prepare import identity_folders, prepare_image

    folders = identity_folders(dataset)
    held = np.random.default_rng(seed).choice(np.arange(len(folders)), size=min(holdout, len(folders)), replace=False)
    crops, labels, qualities = [], [], []
    for label in held:
        for path in list_images(folders[label]):
            image = load_image(path)
            crop, _ = prepare_image(detector, image, True)
            face = pick_central(detect_in_crop(detector, image), image.shape)
            crops.append(crop)
            labels.append(label)
            qualities.append(assess(face, crop) if face is not None else None)
    return np.stack(crops), np.asarray(labels), qualities


def judge_limit_check(encodings: np.ndarray, labels: np.ndarray, qualities: list) -> dict:
    """For each judge limit of ``faceapp.decide``, the held-out faces past it and their mean
    distance to their own person's other faces (the limits are meant to catch faces whose
    genuine distances are above the 1:1 threshold). Size cannot be checked here: CelebA's
    faces come cropped to 112 px."""
    from faceapp.decide import JudgeLimits

    limits = JudgeLimits()
    d = np.sqrt(np.clip(2 - 2 * encodings @ encodings.T, 0, None))
    same = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    genuine = (d * same).sum(1) / np.maximum(same.sum(1), 1)
    found = [q is not None for q in qualities]
    checks = {"blurred": lambda q: q.sharpness < limits.min_sharpness, "turned away": lambda q: abs(q.yaw) > limits.max_yaw,
              "covered or unclear": lambda q: q.score < limits.min_score}
    out = {"all faces": {"faces": int(sum(found)), "mean_genuine_distance": round(float(genuine[found].mean()), 4)}}
    for problem, past in checks.items():
        rows = [i for i, q in enumerate(qualities) if q is not None and past(q)]
        out[problem] = {"faces": len(rows), "mean_genuine_distance": round(float(genuine[rows].mean()), 4) if rows else None}
    return out


def enrolled_means(encodings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(P, D) people as ``faceapp.match`` sees them: each row of (P, TEMPLATES) ``rows`` holds one
    person's enrollment photos, replaced by the L2-normalised mean of their encodings."""
    sums = encodings[rows].sum(axis=1)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def impostor_person_distances(encodings: np.ndarray, labels: np.ndarray, seed: int = 0,
                               cohort: Cohort | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every face to every other person enrolled from TEMPLATES of their photos,
    and their weights: each person is enrolled from up to MAX_PAIRS random pairs of their
    photos (all pairs where they have fewer), each pair weighing the same, and every person
    weighing the same in all. Adjusted by each face's crowding where there is a ``cohort``."""
    crowding = cohort.crowding(encodings) if cohort is not None else None
    rng = np.random.default_rng(seed)
    values, weights = [], []
    for person in np.unique(labels):
        rows = np.nonzero(labels == person)[0]
        n = len(rows)
        if n < TEMPLATES:
            continue
        pairs = np.array([(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]])
        if len(pairs) > MAX_PAIRS:
            pairs = pairs[rng.choice(len(pairs), MAX_PAIRS, replace=False)]
        others = labels != person
        d = np.sqrt(np.clip(2 - 2 * encodings[others] @ enrolled_means(encodings, pairs).T, 0, None))
        if cohort is not None:
            d = cohort.adjust(d, crowding[others, None])
        values.append(d.ravel())
        weights.append(np.full(d.size, 1 / len(pairs)))
    order_values = np.concatenate(values)
    order = np.argsort(order_values, kind="stable")
    return order_values[order], np.concatenate(weights)[order]


class ImpostorTail:
    """The weighted impostor CDF F(t), its inverse, and a log-linear extension below the data."""

    def __init__(self, values: np.ndarray, weights: np.ndarray) -> None:
        self.values, self.cdf = values, np.cumsum(weights) / weights.sum()
        self.resolution = MIN_TAIL_COUNT / len(values)  # the smallest F read off the data
        lo = self.quantile(self.resolution)
        hi = self.quantile(1e-3 if 1e-3 > 10 * self.resolution else 10 * self.resolution)
        fit = (self.values >= lo) & (self.values <= hi)
        self.slope, self.intercept = np.polyfit(self.values[fit], np.log10(self.cdf[fit]), 1)

    def quantile(self, f: float) -> float:
        return float(self.values[min(np.searchsorted(self.cdf, f), len(self.values) - 1)])

    def share_below(self, t: float) -> float:
        """F(t): the weighted share of impostor person-distances <= t, as measured."""
        return float(self.cdf[np.searchsorted(self.values, t, side="right") - 1]) if t >= self.values[0] else 0.0

    def threshold(self, f: float) -> tuple[float, bool]:
        """The distance where F = f, and whether it was extrapolated. Below the data the fitted line
        never goes above the last measured quantile, so a stricter F never gets a looser threshold
        (the line need not pass through the few farthest measured points)."""
        if f >= self.resolution:
            return self.quantile(f), False
        line = float((np.log10(f) - self.intercept) / self.slope)
        return min(line, self.quantile(self.resolution)), True


def fpir_tables(tail: ImpostorTail) -> tuple[dict, dict]:
    """{level: {size: threshold}} and {level: [sizes extrapolated]}."""
    tables, extrapolated = {}, {}
    for level in FPIR_LEVELS:
        tables[level], extrapolated[level] = {}, []
        for size in GALLERY_SIZES:
            f = 1 - (1 - float(level)) ** (1 / size)
            threshold, extended = tail.threshold(f)
            tables[level][str(size)] = round(threshold, 5)
            if extended:
                extrapolated[level].append(size)
    return tables, extrapolated


def person_distances(encodings: np.ndarray, labels: np.ndarray, rng: np.random.Generator, cohort: Cohort | None = None):
    """Every held-out person enrolled from TEMPLATES random photos; the other photos are probes.
    Returns the (probes, people) person-distance matrix (adjusted by each probe's crowding where
    there is a ``cohort``), the probes' labels and the people."""
    people = np.unique(labels)
    templates, probes = [], []
    for person in people:
        rows = rng.permutation(np.nonzero(labels == person)[0])
        templates.append(rows[:TEMPLATES])
        probes.extend(rows[TEMPLATES:])
    probes = np.asarray(probes)
    means = enrolled_means(encodings, np.array(templates))
    by_person = np.sqrt(np.clip(2 - 2 * encodings[probes] @ means.T, 0, None))
    if cohort is not None:
        by_person = cohort.adjust(by_person, cohort.crowding(encodings[probes])[:, None])
    return by_person, labels[probes], people


def simulate(by_person: np.ndarray, truth: np.ndarray, people: np.ndarray, size: int, threshold: float,
             margin: float, rng: np.random.Generator, trials: int = 40) -> dict:
    """Galleries of ``size`` random held-out people: the share of strangers named (FPIR), of
    enrolled people's probes named right (TPIR) and named wrong."""
    named_stranger, by_threshold, right, wrong = [], [], [], []
    for _ in range(trials):
        chosen = rng.choice(len(people), size, replace=False)
        sub = by_person[:, chosen]
        order = np.argsort(sub, axis=1)[:, :2]
        best = sub[np.arange(len(sub)), order[:, 0]]
        second = sub[np.arange(len(sub)), order[:, 1]] if size > 1 else np.full(len(sub), np.inf)
        named = (best <= threshold) & (second - best >= margin)
        enrolled = np.isin(truth, people[chosen])
        correct = people[chosen][order[:, 0]] == truth
        named_stranger.append(named[~enrolled].mean())
        by_threshold.append((best <= threshold)[~enrolled].mean())
        right.append((named & correct)[enrolled].mean())
        wrong.append((named & ~correct)[enrolled].mean())
    return {"fpir_threshold_alone": round(float(np.mean(by_threshold)), 4),
            "fpir": round(float(np.mean(named_stranger)), 4), "tpir": round(float(np.mean(right)), 4),
            "wrong_name": round(float(np.mean(wrong)), 4)}


def coin_flip_margin(by_person: np.ndarray, truth: np.ndarray, people: np.ndarray, threshold: float) -> float:
    """The best-to-runner-up margin at which a name given under ``threshold``, with every held-out
    person enrolled, is as likely wrong as right: where a logistic fit of P(wrong | margin) crosses
    one half. Below it, a name is a coin flip between two people."""
    order = np.argsort(by_person, axis=1)[:, :2]
    rows = np.arange(len(by_person))
    best, second = by_person[rows, order[:, 0]], by_person[rows, order[:, 1]]
    named = best <= threshold
    gap, wrong = (second - best)[named], (people[order[:, 0]] != truth)[named].astype(float)
    if not wrong.any():
        return 0.0  # never wrong: no margin needed
    x = np.stack([np.ones_like(gap), gap], axis=1)
    w = np.zeros(2)
    for _ in range(50):  # Newton's method for the logistic regression (IRLS)
        p = 1 / (1 + np.exp(-x @ w))
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        w += np.linalg.solve(hessian, x.T @ (wrong - p))
    return round(max(0.0, float(-w[0] / w[1])), 3)


def calibrate_open_set(encodings: np.ndarray, labels: np.ndarray, default_threshold: float, seed: int = 0,
                       qualities: list | None = None, far_thresholds: dict[str, float] | None = None,
                       cohort: Cohort | None = None) -> dict:
    """The card's ``thresholds.open_set`` section from held-out encodings (what export can call too).
    ``far_thresholds`` (the card's 1:1 levels, calibrated on photo pairs) are checked against a
    person enrolled from two photos, as the app compares a face with a person. Every distance is
    adjusted by the card's ``cohort``, where it has one, as the app adjusts them."""
    tail = ImpostorTail(*impostor_person_distances(encodings, labels, seed, cohort))
    tables, extrapolated = fpir_tables(tail)
    rng = np.random.default_rng(seed)
    by_person, truth, people = person_distances(encodings, labels, rng, cohort)
    margin = coin_flip_margin(by_person, truth, people, default_threshold)
    checks = {}
    for level in FPIR_LEVELS:
        checks[level] = {}
        for size in (10, 100, min(300, len(people) - 1)):
            threshold = min(default_threshold, float(np.interp(np.log(size), np.log(GALLERY_SIZES),
                                                               list(tables[level].values()))))
            checks[level][str(size)] = simulate(by_person, truth, people, size, threshold, margin, rng)
    return {
        "by_fpir": tables,
        "default_fpir": DEFAULT_FPIR,
        "min_margin": margin,
        "meaning": MEANING,
        "calibration": {
            "identities": int(len(np.unique(labels))),
            "faces": int(len(labels)),
            "templates_per_person": TEMPLATES,
            "impostor_person_distances": int(len(tail.values)),
            "measured_down_to_F": float(f"{tail.resolution:.3g}"),
            "extrapolated_sizes": extrapolated,
            "tail_fit": f"log10 F = {tail.slope:.3f} * distance + {tail.intercept:.3f} below F = {tail.resolution:.2g}",
            "simulated_galleries": checks,
            "simulated_as": "random galleries of held-out people (2 photos each), their other photos as probes, "
                            "the other held-out people's photos as strangers, at min(1:1 default, the level's "
                            "threshold) and the margin",
            "judge_limits": judge_limit_check(encodings, labels, qualities) if qualities is not None else None,
            "far_1to1_vs_two_photo_person": {level: float(f"{tail.share_below(t):.3g}")
                                             for level, t in (far_thresholds or {}).items()},
        },
        "calibrated_on": "CelebA identities held out of training (never LFW, celeba-wild-dev or the videos)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate_open_set", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="the celeba-aligned folder the held-out people come from")
    parser.add_argument("--model", type=Path, default=Path("assets/faceapp-encoder.json"), help="model card")
    parser.add_argument("--detector-model", type=Path, help="YuNet model (default: the shipped one)")
    parser.add_argument("--holdout", type=int, default=500, help="held-out identities (training's --holdout-identities)")
    parser.add_argument("--seed", type=int, default=0, help="the training run's --seed, which drew them")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="store the result in the card")
    args = parser.parse_args(argv)

    from faceapp.detect import load_detector
    from faceapp.embed import load_encoder, read_card
    from faceapp.evaluate import threshold_at_far

    from .engine import impostor_distances

    card = read_card(args.model)
    crops, labels, qualities = held_out_faces(args.dataset, args.holdout, args.seed, load_detector(args.detector_model))
    encoder = load_encoder(args.model, "cpu", threads=args.threads)
    encodings = encoder.embed(crops)
    # The same people as the card's 1:1 calibration, or the split was not reproduced.
    _, impostor = impostor_distances(encodings, labels, cohort=encoder.cohort)
    for level, stored in card.thresholds.items():
        again = threshold_at_far(impostor, float(level))
        print(f"1:1 FAR {level}: {again:.5f} (card {stored:.5f})")
        if abs(again - stored) > 2e-3:
            print("these are not the held-out people the card was calibrated on: check --holdout and --seed", file=sys.stderr)
            return 2
    section = calibrate_open_set(encodings, labels, card.default_threshold, args.seed, qualities, card.thresholds,
                                 encoder.cohort)
    print(json.dumps(section, indent=1))
    if args.write:
        raw = json.loads(args.model.read_text())
        raw["thresholds"]["open_set"] = section
        args.model.write_text(json.dumps(raw, indent=2) + "\n")
        print(f"wrote thresholds.open_set into {args.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
