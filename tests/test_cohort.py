"""Specification of faceapp.cohort and of galleries judged with one (Gallery.with_cohort)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceapp.cohort import Cohort, load_cohort
from faceapp.errors import ModelError
from faceapp.evaluate import Pair, pair_distances
from faceapp.images import file_sha256
from faceapp.match import Gallery, best_two_people, identify, identify_many, verify

DIM = 16


def unit(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def crowd() -> tuple[Cohort, np.ndarray]:
    """A cohort of 200 people, half of them bunched around one direction (``hub``): a face near
    the hub lies close to many of them, a face elsewhere close to few."""
    rng = np.random.default_rng(7)
    hub = unit(rng.standard_normal(DIM))
    bunched = unit(hub + 0.35 * rng.standard_normal((100, DIM)))
    spread = unit(rng.standard_normal((100, DIM)))
    return Cohort(np.vstack([bunched, spread]), k=10, reference=0.6), hub


def test_crowding_is_the_mean_cosine_to_the_k_nearest_rows() -> None:
    rows = np.eye(4, dtype=np.float32)
    query = unit([3.0, 2.0, 1.0, 0.0])
    expected = (query[0] + query[1]) / 2  # its two most similar rows are e0 and e1
    assert Cohort(rows, k=2, reference=0.0).crowding(query[None])[0] == pytest.approx(expected, abs=1e-6)


def test_crowding_of_a_face_does_not_depend_on_the_faces_asked_with_it(crowd) -> None:
    cohort, _ = crowd
    faces = unit(np.random.default_rng(1).standard_normal((9, DIM)))
    together = cohort.crowding(faces)
    alone = np.array([cohort.crowding(f[None])[0] for f in faces])
    assert np.array_equal(together, alone)


def test_a_crowded_face_moves_away_and_no_face_comes_nearer(crowd) -> None:
    cohort, hub = crowd
    d = np.array([0.5, 1.0, math.inf])
    assert np.allclose(cohort.adjust(d, cohort.reference), d)
    elsewhere = unit(np.random.default_rng(2).standard_normal(DIM))
    near_hub, far = cohort.crowding(np.stack([hub, elsewhere]))
    assert near_hub > cohort.reference > far
    moved = cohort.adjust(np.array([1.0]), near_hub)[0]
    assert moved == pytest.approx(math.sqrt(1.0 + 2 * (near_hub - cohort.reference)))
    assert cohort.adjust(np.array([1.0]), far)[0] == 1.0 < moved  # an uncommon face keeps its plain distance
    assert cohort.adjust(np.array([math.inf]), near_hub)[0] == math.inf
    assert cohort.adjust(np.array([0.01]), -5.0)[0] == 0.01


def test_a_cohort_refuses_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="L2-normalised"):
        Cohort(np.ones((3, DIM), np.float32), 2, 0.0)
    with pytest.raises(ValueError, match="k must be between"):
        Cohort(np.eye(DIM, dtype=np.float32), DIM + 1, 0.0)
    with pytest.raises(ValueError, match="shape"):
        Cohort(np.ones(DIM, np.float32), 1, 0.0)


def test_load_cohort_checks_its_file(tmp_path) -> None:
    path = tmp_path / "cohort.npy"
    np.save(path, np.eye(DIM, dtype=np.float16))
    loaded = load_cohort(path, file_sha256(path), 3, 0.1)
    assert (loaded.k, loaded.reference, loaded.dim) == (3, 0.1, DIM)
    with pytest.raises(ModelError, match="damaged"):
        load_cohort(path, "0" * 64, 3, 0.1)
    with pytest.raises(ModelError, match="not found"):
        load_cohort(tmp_path / "gone.npy", "0" * 64, 3, 0.1)


def gallery_of(rows: np.ndarray) -> Gallery:
    owners = np.repeat(np.arange(len(rows) // 2), 2)
    return Gallery(rows, owners, {int(i): f"p{i}" for i in set(owners)}, "m")


def test_a_gallery_with_a_cohort_moves_distances_but_never_the_ranking(crowd) -> None:
    cohort, hub = crowd
    rng = np.random.default_rng(3)
    plain = gallery_of(unit(rng.standard_normal((20, DIM))))
    judged = plain.with_cohort(cohort)
    assert plain.cohort is None and judged.cohort is cohort and judged.people.cohort is cohort
    assert np.shares_memory(judged.encodings, plain.encodings)  # nothing copied
    assert judged.people.encodings is plain.people.encodings
    faces = np.vstack([hub[None], unit(rng.standard_normal((5, DIM)))])
    raw_best, raw_d, raw_second, raw_second_d = best_two_people(faces, plain)
    best, d, second, second_d = best_two_people(faces, judged)
    assert np.array_equal(best, raw_best) and np.array_equal(second, raw_second)
    crowding = cohort.crowding(faces)
    assert np.allclose(d, cohort.adjust(raw_d, crowding))
    assert np.allclose(second_d, cohort.adjust(raw_second_d, crowding))
    for face, expected in zip(faces, d):  # every entry point reports the same adjusted distance
        assert identify(face, judged, 2.0).distance == pytest.approx(expected, abs=1e-6)
        owner = identify(face, judged, 2.0).person_id
        assert verify(face, judged, owner, 2.0).distance == pytest.approx(expected, abs=1e-6)
    assert [m.distance for m in identify_many(faces, judged, 2.0)] == pytest.approx(list(d), abs=1e-6)


def test_a_crowded_stranger_named_by_plain_distance_is_refused_with_the_cohort(crowd) -> None:
    cohort, hub = crowd
    rng = np.random.default_rng(4)
    alice = unit(hub + 0.5 * rng.standard_normal(DIM))
    gallery = Gallery(alice[None], np.array([1]), {1: "Alice"}, "m")
    threshold = float(np.linalg.norm(alice - hub)) + 0.01  # the hub face is just inside it
    assert identify(hub, gallery, threshold).accepted
    assert not identify(hub, gallery.with_cohort(cohort), threshold).accepted
    assert not verify(hub, gallery.with_cohort(cohort), 1, threshold).accepted
    assert gallery.with_cohort(None).cohort is None


def test_a_gallery_made_with_a_cohort_judges_with_it_too(crowd) -> None:
    cohort, hub = crowd
    rows = unit(np.random.default_rng(6).standard_normal((4, DIM)))
    made = Gallery(rows, np.array([1, 1, 2, 2]), {1: "A", 2: "B"}, "m", cohort=cohort)
    assert made.people.cohort is cohort
    attached = gallery_of(rows).with_cohort(cohort)
    assert identify(hub, made, 2.0).distance == pytest.approx(identify(hub, attached, 2.0).distance)
    assert identify(hub, made, 2.0).distance != pytest.approx(identify(hub, gallery_of(rows), 2.0).distance)


def test_a_cohort_of_another_dimension_is_refused(crowd) -> None:
    cohort, _ = crowd
    gallery = Gallery(unit(np.ones((1, DIM + 1))), np.array([1]), {1: "A"}, "m")
    with pytest.raises(ValueError, match="dimensions"):
        gallery.with_cohort(cohort)


def test_a_pair_is_adjusted_by_both_of_its_faces(crowd) -> None:
    cohort, hub = crowd
    other = unit(np.random.default_rng(5).standard_normal(DIM))
    encodings = {("a", 1): hub, ("b", 1): other}
    pairs = [Pair(("a", 1), ("b", 1), False, 0)]
    plain = pair_distances(pairs, encodings)[0][0]
    adjusted = pair_distances(pairs, encodings, cohort)[0][0]
    one_sided = cohort.adjust(np.array([plain, plain]), cohort.crowding(np.stack([hub, other])))
    assert adjusted == pytest.approx(math.sqrt(np.mean(one_sided ** 2)))


def test_the_shipped_encoder_loads_its_cards_cohort(shipped_model_card) -> None:
    from faceapp.embed import read_card

    card = read_card(shipped_model_card)
    assert card.cohort is not None and card.cohort.path.is_file()
    cohort = load_cohort(card.cohort.path, card.cohort.sha256, card.cohort.k, card.cohort.reference)
    assert cohort.dim == card.dim and cohort.rows.shape[0] > 1000 and 1 <= cohort.k < 1000


def test_a_damaged_cohort_file_stops_the_encoder_with_one_line(shipped_model_card, tmp_path) -> None:
    import json
    import shutil

    from faceapp.embed import load_encoder, read_card

    card = read_card(shipped_model_card)
    for path in (shipped_model_card, card.weights_path, card.onnx_path, card.quality.path, card.cohort.path):
        shutil.copy(path, tmp_path / path.name)
    copied = tmp_path / card.cohort.path.name
    copied.write_bytes(copied.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cohort file .* is damaged") as error:
        load_encoder(tmp_path / shipped_model_card.name, device="cpu")
    assert "\n" not in str(error.value)
    raw = json.loads((tmp_path / shipped_model_card.name).read_text())
    raw["cohort"]["sha256"] = file_sha256(copied)  # re-signed by hand: the file itself is unreadable
    (tmp_path / shipped_model_card.name).write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="cannot read cohort file"):
        load_encoder(tmp_path / shipped_model_card.name, device="cpu")
