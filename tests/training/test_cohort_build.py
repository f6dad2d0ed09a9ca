"""Building the card's cohort (``training/cohort.py``) and calibrating on the distances it adjusts,
checked by hand on small sets of unit vectors (the functions take any encoding)."""

from __future__ import annotations

import numpy as np
import pytest

from faceapp.cohort import Cohort
from training.calibrate_open_set import impostor_person_distances
from training.cohort import identity_means, make_cohort
from training.engine import impostor_distances


def on_circle(*degrees: float) -> np.ndarray:
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_each_identity_becomes_the_normalised_mean_of_at_most_per_identity_of_its_faces() -> None:
    faces = on_circle(0, 20, 90, 100, 110, 180)
    labels = np.array([5, 5, 9, 9, 9, 2])
    asked = []

    def encode(crops: np.ndarray) -> np.ndarray:  # the faces already are encodings here
        asked.append(len(crops))
        return crops

    means = identity_means(encode, faces, labels, per_identity=3, seed=0)
    assert asked == [6]  # one pass over every drawn face
    assert np.allclose(means, on_circle(180, 10, 100), atol=1e-6)  # identities in label order: 2, 5, 9
    capped = identity_means(encode, faces, labels, per_identity=1, seed=0)
    assert asked[-1] == 3
    assert np.allclose(np.linalg.norm(capped, axis=1), 1)
    assert any(np.allclose(capped[2], on_circle(d)[0], atol=1e-6) for d in (90, 100, 110))


def test_the_reference_is_the_median_crowding_of_the_held_out_faces() -> None:
    rows = on_circle(0, 60, 120, 180, 240, 300)
    held = on_circle(0, 30, 90)  # nearest rows: cos 0 = 1, cos 30, cos 30
    cohort = make_cohort(rows, 1, held)
    assert cohort.reference == pytest.approx(np.cos(np.radians(30)), abs=1e-5)
    assert cohort.adjust(np.array([0.7]), cohort.crowding(held[1:2]))[0] == pytest.approx(0.7, abs=1e-4)
    assert cohort.adjust(np.array([0.7]), cohort.crowding(held[:1]))[0] > 0.7  # on a row: more crowded


def test_with_a_cohort_every_ordered_pair_counts_adjusted_by_the_judged_face() -> None:
    faces, labels = on_circle(0, 10, 90), np.array([0, 0, 1])
    plain_genuine, plain_impostor = impostor_distances(faces, labels)
    assert len(plain_genuine) == 1 and len(plain_impostor) == 2  # unordered pairs
    cohort = Cohort(on_circle(0, 5), k=1, reference=0.9)
    genuine, impostor = impostor_distances(faces, labels, cohort=cohort)
    assert len(genuine) == 2 and len(impostor) == 4  # ordered pairs
    crowding = cohort.crowding(faces)
    d = np.linalg.norm(faces[:, None] - faces[None], axis=2)
    expected = sorted(cohort.adjust(d[i, j], crowding[i]) for i, j in ((0, 2), (1, 2), (2, 0), (2, 1)))
    assert np.allclose(sorted(impostor), expected)


def test_open_set_impostor_distances_are_adjusted_by_the_stranger() -> None:
    encodings, labels = on_circle(0, 10, 90), np.array([0, 0, 1])
    plain, _ = impostor_person_distances(encodings, labels)
    cohort = Cohort(on_circle(80), k=1, reference=0.5)
    adjusted, _ = impostor_person_distances(encodings, labels, cohort=cohort)
    crowding = cohort.crowding(encodings[2:])[0]  # the stranger at 90 degrees
    assert adjusted == pytest.approx(cohort.adjust(plain, crowding))
    assert adjusted[0] > plain[0]  # he lies near the cohort's one row: more crowded than the reference
