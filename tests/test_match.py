"""Specification of faceapp.match: distances, 1:1 verify, 1:N identify."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceapp.errors import UnknownPersonError
from faceapp.match import Gallery, distances, identify, identify_many, verify

DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def random_units(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return unit(rng.standard_normal((n, dim)))


def near(x: np.ndarray, distance: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly ``distance`` from unit vector ``x`` (on the great circle)."""
    other = rng.standard_normal(x.shape[0])
    other -= other.dot(x) * x  # orthogonal to x
    other /= np.linalg.norm(other)
    angle = 2 * math.asin(distance / 2)  # chord length -> angle
    return (math.cos(angle) * x.astype(np.float64) + math.sin(angle) * other).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def gallery(rng: np.random.Generator) -> Gallery:
    """Three people with 3 templates each: a person's templates are close to their centre."""
    centres = random_units(rng, 3)
    rows, ids = [], []
    for pid, centre in zip((10, 20, 30), centres):
        for _ in range(3):
            rows.append(near(centre, 0.3, rng))
            ids.append(pid)
    return Gallery(np.stack(rows), np.array(ids), {10: "Alice", 20: "Bob", 30: "Chen"}, "model-a")


def test_distances_equal_numpy_norm(rng: np.random.Generator) -> None:
    queries, templates = random_units(rng, 5), random_units(rng, 40)
    expected = np.linalg.norm(queries[:, None, :] - templates[None, :, :], axis=2)
    got = distances(queries, templates)
    assert got.shape == (5, 40) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    single = distances(queries[0], templates)
    assert single.shape == (40,)
    np.testing.assert_allclose(single, expected[0], atol=1e-5)


def test_distance_of_a_vector_to_itself_is_zero_not_nan(rng: np.random.Generator) -> None:
    x = random_units(rng, 4)
    d = distances(x, x)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-3)


def test_verify_accepts_within_threshold_and_rejects_beyond(rng: np.random.Generator) -> None:
    template = random_units(rng, 1)
    g = Gallery(template, np.array([7]), {7: "Alice"}, "m")
    probe_in = near(template[0], 0.59, rng)
    probe_out = near(template[0], 0.61, rng)

    ok = verify(probe_in, g, 7, threshold=0.6)
    assert ok.accepted and ok.name == "Alice" and ok.person_id == 7
    assert ok.distance == pytest.approx(0.59, abs=1e-4)

    no = verify(probe_out, g, 7, threshold=0.6)
    assert not no.accepted
    assert no.name == "Alice", "a rejected claim still names who was claimed"
    assert no.distance == pytest.approx(0.61, abs=1e-4)


def test_verify_uses_the_closest_of_the_persons_templates(gallery: Gallery, rng: np.random.Generator) -> None:
    bob = gallery.for_person(20)
    assert bob.shape == (3, DIM)
    probe = near(bob[1], 0.1, rng)
    m = verify(probe, gallery, 20, threshold=0.5)
    assert m.accepted
    assert m.distance == pytest.approx(float(distances(probe, bob).min()), abs=1e-5)


def test_verify_of_someone_without_templates_raises(gallery: Gallery, rng: np.random.Generator) -> None:
    with pytest.raises(UnknownPersonError):
        verify(random_units(rng, 1)[0], gallery, 99, threshold=1.0)


def test_identify_returns_the_nearest_person(gallery: Gallery, rng: np.random.Generator) -> None:
    for pid in (10, 20, 30):
        probe = near(gallery.for_person(pid)[2], 0.05, rng)
        m = identify(probe, gallery, threshold=0.6)
        assert (m.person_id, m.name, m.accepted) == (pid, gallery.names[pid], True)
        assert m.distance == pytest.approx(float(distances(probe, gallery.encodings).min()), abs=1e-5)


def test_identify_above_threshold_is_unknown_but_reports_distance(gallery: Gallery, rng: np.random.Generator) -> None:
    stranger = random_units(rng, 1)[0]
    nearest = float(distances(stranger, gallery.encodings).min())
    m = identify(stranger, gallery, threshold=nearest - 0.01)
    assert m.name is None and m.person_id is None and not m.accepted
    assert m.distance == pytest.approx(nearest, abs=1e-5)
    assert identify(stranger, gallery, threshold=nearest + 0.01).accepted


def test_identify_on_an_empty_gallery_is_unknown_at_infinite_distance(rng: np.random.Generator) -> None:
    empty = Gallery.empty(DIM, "m")
    assert len(empty) == 0
    m = identify(random_units(rng, 1)[0], empty, threshold=1.0)
    assert (m.name, m.accepted, m.person_id) == (None, False, None)
    assert m.distance == math.inf
    assert identify_many(random_units(rng, 2), empty, 1.0) == [m, m]


def test_identify_many_equals_identify_row_by_row(gallery: Gallery, rng: np.random.Generator) -> None:
    probes = np.concatenate(
        [np.stack([near(gallery.for_person(pid)[0], 0.2, rng) for pid in (30, 10, 20)]), random_units(rng, 3)]
    )
    many = identify_many(probes, gallery, threshold=0.6)
    assert many == [identify(p, gallery, threshold=0.6) for p in probes]
    assert [m.person_id for m in many[:3]] == [30, 10, 20]
    assert identify_many(np.empty((0, DIM), np.float32), gallery, 0.6) == []


def test_a_query_from_another_model_is_refused(gallery: Gallery, rng: np.random.Generator) -> None:
    other = random_units(rng, 2, dim=64)
    with pytest.raises(ValueError, match="64 dimensions but the gallery has 128"):
        identify(other[0], gallery, 0.6)
    with pytest.raises(ValueError, match="dimensions"):
        identify_many(other, gallery, 0.6)
    with pytest.raises(ValueError, match="dimensions"):
        verify(other[0], gallery, 10, 0.6)
    with pytest.raises(ValueError, match="dimensions"):
        distances(other, gallery.encodings)


def test_inputs_that_are_not_unit_encodings_are_refused(gallery: Gallery) -> None:
    with pytest.raises(ValueError, match="L2-normalised"):
        identify(np.full(DIM, 0.5, np.float32), gallery, 0.6)
    nan = np.full(DIM, np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN"):
        identify(nan, gallery, 0.6)
    with pytest.raises(ValueError, match="threshold"):
        identify(gallery.encodings[0], gallery, float("nan"))
    with pytest.raises(ValueError, match="L2-normalised"):
        Gallery(np.ones((2, DIM), np.float32), np.array([1, 2]), {1: "a", 2: "b"}, "m")
    with pytest.raises(ValueError, match="person_ids"):
        Gallery(gallery.encodings, np.array([1]), {1: "a"}, "m")
    with pytest.raises(ValueError, match="names lack"):
        Gallery(gallery.encodings[:1], np.array([5]), {}, "m")


def test_gallery_is_converted_once_and_read_only(rng: np.random.Generator) -> None:
    enc64 = random_units(rng, 4).astype(np.float64)
    g = Gallery(enc64, [1, 1, 2, 2], {1: "a", 2: "b"}, "m")
    assert g.encodings.dtype == np.float32 and g.encodings.flags.c_contiguous
    assert g.person_ids.dtype == np.int64
    with pytest.raises(ValueError):
        g.encodings[0, 0] = 1.0
    enc32 = random_units(rng, 4)
    g32 = Gallery(enc32, np.array([1, 1, 2, 2]), {1: "a", 2: "b"}, "m")
    assert np.shares_memory(g32.encodings, enc32), "a float32 gallery is not copied"
    enc32[0, 0] = 0.0  # the caller's array stays writable
    assert len(g32) == 4 and g32.dim == DIM


def test_large_gallery_agrees_with_brute_force(rng: np.random.Generator) -> None:
    n = 100_000
    encodings = random_units(rng, n)
    person_ids = np.arange(n, dtype=np.int64) // 4
    names = {int(p): f"person {p}" for p in np.unique(person_ids)}
    g = Gallery(encodings, person_ids, names, "m")

    picks = rng.choice(n, size=5, replace=False)
    probes = np.stack([near(encodings[i], 0.3, rng) for i in picks])
    many = identify_many(probes, g, threshold=0.8)
    for probe, pick, m in zip(probes, picks, many):
        # Brute force, one template at a time in float64, over a strided subset plus the
        # true template (the whole 100k loop would be slow in Python).
        best_d, best_i = math.inf, -1
        for i in [*range(0, n, 997), int(pick)]:
            d = float(np.linalg.norm(encodings[i].astype(np.float64) - probe))
            if d < best_d:
                best_d, best_i = d, i
        assert best_i == pick
        single = identify(probe, g, threshold=0.8)
        assert single == m
        assert (m.person_id, m.accepted) == (int(person_ids[pick]), True)
        assert m.distance == pytest.approx(best_d, abs=1e-4)
        # The full vectorised distance row says the same.
        assert int(np.argmin(distances(probe, g.encodings))) == pick
