"""Specification of faceapp.match: distances, 1:1 verify, 1:N identify."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceapp.errors import UnknownPersonError
from faceapp.match import Gallery, best_two_people, distances, identify, identify_many, verify
from faceapp.shortlist import MIN_ROWS, QUERY_BLOCK, Int8Shortlist
from faceapp.types import Match

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


def mean_of(rows: np.ndarray) -> np.ndarray:
    """A person as matching sees them: the normalised mean of their templates."""
    return unit(rows.astype(np.float64).sum(axis=0))


def test_verify_compares_with_the_mean_of_the_persons_templates(gallery: Gallery, rng: np.random.Generator) -> None:
    bob = gallery.for_person(20)
    assert bob.shape == (3, DIM)
    probe = near(bob[1], 0.1, rng)
    m = verify(probe, gallery, 20, threshold=0.5)
    assert m.accepted
    assert m.distance == pytest.approx(float(distances(probe, mean_of(bob)[None])[0]), abs=1e-5)
    # ... not with the nearest template, which a stranger gets K chances to come close to
    assert m.distance > float(distances(probe, bob).min()) + 0.05


def test_a_persons_mean_is_made_once_and_a_gallery_of_one_row_each_is_its_own(rng: np.random.Generator) -> None:
    rows = random_units(rng, 5)
    g = Gallery(rows, np.array([5, 3, 3, 9, 3]), {5: "a", 3: "b", 9: "c"}, "m")
    people = g.people
    assert people is g.people, "a snapshot's means are made once, as it loads"
    assert people.person_ids.tolist() == [3, 5, 9] and dict(people.names) == {3: "b", 5: "a", 9: "c"}
    np.testing.assert_allclose(people.for_person(3)[0], mean_of(rows[[1, 2, 4]]), atol=1e-6)
    np.testing.assert_allclose(people.for_person(5)[0], rows[0], atol=1e-6)
    assert people.people is people
    opposite = Gallery(np.stack([rows[0], -rows[0]]), np.array([1, 1]), {1: "x"}, "m")
    np.testing.assert_allclose(opposite.people.encodings[0], rows[0], atol=1e-6)  # no mean: the first template


def test_verify_of_someone_without_templates_raises(gallery: Gallery, rng: np.random.Generator) -> None:
    with pytest.raises(UnknownPersonError):
        verify(random_units(rng, 1)[0], gallery, 99, threshold=1.0)


def test_identify_returns_the_nearest_person(gallery: Gallery, rng: np.random.Generator) -> None:
    for pid in (10, 20, 30):
        probe = near(gallery.for_person(pid)[2], 0.05, rng)
        m = identify(probe, gallery, threshold=0.6)
        assert (m.person_id, m.name, m.accepted) == (pid, gallery.names[pid], True)
        assert m.distance == pytest.approx(float(distances(probe, mean_of(gallery.for_person(pid))[None])[0]), abs=1e-5)


def test_identify_above_threshold_is_unknown_but_reports_distance(gallery: Gallery, rng: np.random.Generator) -> None:
    stranger = random_units(rng, 1)[0]
    nearest = float(distances(stranger, gallery.people.encodings).min())
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
    person_ids = np.arange(n, dtype=np.int64)  # one template each: the nearest template is the nearest person
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


# -- large galleries: the int8 first pass and its exact float32 re-rank ------------------------
#
# From shortlist.MIN_ROWS people on, a Gallery's people keep an int8 copy; 1:N searches score it first
# and re-rank in float32 only the rows that can still win. The answer must be exactly the one a
# float32 scan over every row gives, on realistic data and on the near-ties int8 cannot separate.

LARGE = MIN_ROWS + 4_096  # just past the size where the int8 first pass starts


def float32_answer(queries: np.ndarray, gallery: Gallery, threshold: float) -> list[Match]:
    """What identify() answered before the int8 pass existed: argmax of one float32 product."""
    best = np.argmax(queries @ gallery.encodings.T, axis=1)
    out = []
    for q, row in zip(queries, best):
        d = math.sqrt(max(0.0, 2.0 - 2.0 * float(np.dot(gallery.encodings[row].astype(np.float64), q.astype(np.float64)))))
        pid = int(gallery.person_ids[row])
        out.append(Match(gallery.names[pid], d, True, pid) if d <= threshold else Match(None, d, False, None))
    return out


def float32_best_two(queries: np.ndarray, gallery: Gallery) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the nearest template and of the nearest template of anyone else, by float32 scan."""
    dots = queries @ gallery.encodings.T
    best = np.argmax(dots, axis=1)
    others = np.where(gallery.person_ids[None, :] == gallery.person_ids[best][:, None], -np.inf, dots)
    return best, np.argmax(others, axis=1)


def assert_float32_answers(queries: np.ndarray, gallery: Gallery, threshold: float) -> None:
    gallery = gallery.people  # what matching searches: one row per person
    assert gallery.nbytes > gallery.encodings.nbytes + gallery.person_ids.nbytes, "no int8 copy: the fast path is not tested"
    for start in range(0, len(queries), 64):  # the brute force's (Q, M) matrices stay small
        block = queries[start : start + 64]
        expected = float32_answer(block, gallery, threshold)
        assert identify_many(block, gallery, threshold) == expected
        assert [identify(q, gallery, threshold) for q in block[:8]] == expected[:8]
        best, _, second, _ = best_two_people(block, gallery)
        expected_best, expected_second = float32_best_two(block, gallery)
        assert best.tolist() == expected_best.tolist() and second.tolist() == expected_second.tolist()


def clustered_gallery(rng: np.random.Generator, rows: int, per_person: int = 1,
                      spread: float = 0.5) -> tuple[Gallery, np.ndarray]:
    """People as random centres, each with templates ``spread`` from it (a real person's
    templates lie about that far apart); returns the gallery and the centres."""
    people = rows // per_person
    centres = random_units(rng, people)
    noise = rng.standard_normal((people * per_person, DIM)).astype(np.float32)
    templates = unit(np.repeat(centres, per_person, axis=0) + noise * (spread / math.sqrt(DIM)))
    ids = np.repeat(np.arange(people, dtype=np.int64), per_person) * 3 + 7  # ids need not be 0..N
    return Gallery(templates, ids, {int(p): f"person {p}" for p in np.unique(ids)}, "m"), centres


def test_a_large_gallery_gives_the_float32_answer_for_known_people_and_strangers(rng: np.random.Generator) -> None:
    gallery, centres = clustered_gallery(rng, LARGE)
    known = unit(centres[rng.choice(len(centres), 120)] + rng.standard_normal((120, DIM)) * (0.5 / math.sqrt(DIM)))
    strangers = random_units(rng, 60)
    copies = gallery.encodings[rng.choice(len(gallery), 8)]  # distance 0 to a stored template
    queries = np.concatenate([known, strangers, copies]).astype(np.float32)
    assert_float32_answers(queries, gallery, threshold=0.8)
    matches = identify_many(queries, gallery, 0.8)
    assert sum(m.accepted for m in matches[:120]) > 100 and not any(m.accepted for m in matches[120:180])
    assert all(m.accepted and m.distance < 1e-3 for m in matches[180:])


def test_near_ties_that_int8_cannot_separate_still_get_the_float32_winner(rng: np.random.Generator) -> None:
    """Each query is all but equidistant from two templates of different people, and leans
    along their int8 rounding errors so that int8 ranks the pair the wrong way round: only the
    float32 re-rank of the shortlist gets every one right."""
    gallery, _ = clustered_gallery(rng, LARGE)
    a_rows = rng.choice(len(gallery), 200, replace=False)
    b_rows = (a_rows + 5 * rng.integers(1, 1000, 200)) % len(gallery)  # one row per person: another person
    a, b = gallery.encodings[a_rows].astype(np.float64), gallery.encodings[b_rows].astype(np.float64)
    scale = Int8Shortlist(gallery.encodings).scale
    a8, b8 = np.rint(a * scale), np.rint(b * scale)
    lean = unit(a - a8 / scale) - unit(b - b8 / scale)  # int8 underrates a and overrates b along this
    for axis in (unit(a + b), unit(a - b)):  # ... and lean only across a and b, so float32 still all but ties them
        lean -= np.einsum("ij,ij->i", lean, axis)[:, None] * axis
    queries = unit(a * (1 + 1e-4) + b + lean)
    q8 = np.rint(queries * (127 / np.abs(queries).max(axis=1, keepdims=True)))
    fooled = np.einsum("ij,ij->i", queries, a) > np.einsum("ij,ij->i", queries, b)  # float32 ranks a first ...
    fooled &= np.einsum("ij,ij->i", q8, b8) > np.einsum("ij,ij->i", q8, a8)  # ... and int8 b
    assert fooled.mean() > 0.3, "the queries must fool the int8 pass, or this test proves nothing"
    assert_float32_answers(queries, gallery, threshold=1.0)


def test_the_int8_shortlist_holds_every_row_that_can_win_and_few_others(rng: np.random.Generator) -> None:
    gallery, centres = clustered_gallery(rng, LARGE)
    shortlister = Int8Shortlist(gallery.encodings)
    queries = np.concatenate([unit(centres[:30] + rng.standard_normal((30, DIM)) * 0.05), random_units(rng, 30)])
    for start in range(0, len(queries), QUERY_BLOCK):
        block = queries[start : start + QUERY_BLOCK].astype(np.float32)
        scores = shortlister.score(block)
        exact = block.astype(np.float64) @ gallery.encodings.T.astype(np.float64)
        for i, row in enumerate(exact):
            listed = scores.shortlist(i, scores.best(i))
            contenders = np.flatnonzero(row >= row.max() - 1e-6)
            assert np.isin(contenders, listed).all()
            assert len(listed) < 200, "the window should keep the float32 pass to a handful of rows"


def test_a_gallery_states_the_bytes_it_holds(rng: np.random.Generator) -> None:
    small = Gallery(random_units(rng, 10), np.arange(10), {i: str(i) for i in range(10)}, "m")
    assert small.nbytes == 10 * DIM * 4 + 10 * 8  # float32 rows and int64 ids, nothing else
    large, _ = clustered_gallery(rng, LARGE)
    int8 = len(large) * DIM
    # numkong's packed layout pads the int8 rows (numkong 7.8.6 by 16%), so allow a quarter on top.
    assert int8 <= large.nbytes - large.encodings.nbytes - large.person_ids.nbytes <= int8 * 1.25
    several = Gallery(np.repeat(small.encodings, 2, axis=0), np.repeat(small.person_ids, 2), small.names, "m")
    assert len(several.people) == 10 and several.nbytes == 2 * small.nbytes + small.nbytes  # and the means


def test_real_face_encodings_get_the_float32_answer(teacher_npz) -> None:
    """dlib's encodings of the training faces (../shared): real people, real look-alikes. Each
    identity's last face is the query; the gallery is everyone's other faces, replicated with a
    little noise (as other people) past the size where the int8 pass starts."""
    data = np.load(teacher_npz)
    encodings = unit(data["encodings"].astype(np.float32))
    people = np.unique([p.rsplit("/", 1)[0] for p in data["paths"]], return_inverse=True)[1]
    last = np.r_[people[1:] != people[:-1], True]  # the paths are grouped by identity
    rng = np.random.default_rng(7)
    strangers = np.isin(people, rng.choice(people.max() + 1, 300, replace=False))
    first = np.r_[True, people[1:] != people[:-1]] & ~last  # one template per person: each is a person of the int8 pass
    rows = encodings[first & ~strangers]
    ids = people[first & ~strangers]
    copies = -(-MIN_ROWS // len(rows))
    noisy = [unit(rows + rng.standard_normal(rows.shape).astype(np.float32) * 0.01) for _ in range(copies)]
    all_rows = np.concatenate([rows, *noisy])
    all_ids = np.concatenate([ids + k * (people.max() + 1) for k in range(copies + 1)])
    gallery = Gallery(all_rows, all_ids, {int(p): f"id {p}" for p in np.unique(all_ids)}, "dlib")
    known = np.flatnonzero(last & ~strangers)
    queries = np.concatenate([encodings[rng.choice(known, 200, replace=False)], encodings[last & strangers][:100]])
    assert_float32_answers(queries, gallery, threshold=0.6)
