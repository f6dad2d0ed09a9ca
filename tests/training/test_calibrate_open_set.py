"""The open-set calibration's arithmetic (``training/calibrate_open_set.py``), checked by hand on
small sets of encodings: the person-distance weights, the FPIR-to-threshold step and its tail,
and the coin-flip margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.calibrate_open_set import (
    FPIR_LEVELS,
    GALLERY_SIZES,
    ImpostorTail,
    coin_flip_margin,
    fpir_tables,
    impostor_person_distances,
)


def on_circle(*degrees: float) -> np.ndarray:
    """Unit vectors in the plane at these angles (the functions take any dimension)."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def chord(degrees: float) -> float:
    return 2 * math.sin(math.radians(degrees) / 2)


def test_a_stranger_meets_each_enrollment_pair_as_its_mean_each_pair_weighing_the_same() -> None:
    # Person 0 has three photos at 0, 10 and 30 degrees; person 1 one photo at 90 (a probe only).
    encodings, labels = on_circle(0, 10, 30, 90), np.array([0, 0, 0, 1])
    values, weights = impostor_person_distances(encodings, labels)
    # Person 1's one photo cannot be enrolled from 2: only person 0 is, seen from the probe at 90.
    # Person 0's 3 pairs enroll her as their means, at 5 ({0,10}), 15 ({0,30}) and 20 ({10,30}) degrees.
    assert np.allclose(values, [chord(70), chord(75), chord(85)], atol=1e-6)
    assert np.allclose(weights, [1 / 3, 1 / 3, 1 / 3])


def test_a_gallery_of_n_people_gets_the_threshold_where_one_stranger_in_1_over_fpir_is_named() -> None:
    values = np.linspace(0.5, 1.5, 100_001)  # a uniform impostor distance on [0.5, 1.5]
    tail = ImpostorTail(values, np.ones_like(values))
    assert tail.quantile(0.25) == pytest.approx(0.75, abs=1e-4)
    tables, extrapolated = fpir_tables(tail)
    assert set(tables) == set(FPIR_LEVELS) and list(tables["0.1"]) == [str(n) for n in GALLERY_SIZES]
    for size in (1, 10, 100):
        f = 1 - (1 - 0.1) ** (1 / size)  # each of N people a stranger's distance falls under with F(t)
        assert tables["0.1"][str(size)] == pytest.approx(0.5 + f, abs=1e-4)
    # F below MIN_TAIL_COUNT impostors' worth is read off a fit of log F, and marked so.
    assert 100_000 in extrapolated["0.001"] and 1 not in extrapolated["0.001"]
    assert tables["0.001"]["100000"] < tables["0.001"]["10000"] < tables["0.001"]["1000"]


def test_the_margin_is_where_a_name_becomes_as_likely_wrong_as_right() -> None:
    rng = np.random.default_rng(0)
    people = np.arange(2)
    rows, truth = [], []
    for gap in rng.uniform(0, 0.2, 4000):
        # below a gap of 0.05 the nearer person is the wrong one 3 times in 4, above it 1 in 10
        wrong = rng.random() < (0.75 if gap < 0.05 else 0.1)
        rows.append([0.5, 0.5 + gap])
        truth.append(1 if wrong else 0)
    margin = coin_flip_margin(np.array(rows), np.array(truth), people, threshold=1.0)
    assert 0.0 < margin < 0.1  # a logistic curve through a step at 0.05 crosses 1/2 near it
    assert coin_flip_margin(np.array(rows), np.zeros(len(rows), int), people, 1.0) == 0.0  # never wrong: no margin


def test_the_judge_limit_check_averages_each_faces_distance_to_its_own_persons_others() -> None:
    from faceapp.quality import FaceQuality

    from training.calibrate_open_set import judge_limit_check

    good, turned = FaceQuality(80, 60, 0.0, 0.95), FaceQuality(80, 60, 0.9, 0.95)
    encodings, labels = on_circle(0, 20, 100, 90), np.array([0, 0, 1, 1])
    check = judge_limit_check(encodings, labels, [good, turned, good, None])  # no face found in the last
    assert check["turned away"] == {"faces": 1, "mean_genuine_distance": round(chord(20), 4)}
    assert check["all faces"]["faces"] == 3 and check["blurred"] == {"faces": 0, "mean_genuine_distance": None}
