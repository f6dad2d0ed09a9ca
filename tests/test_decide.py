"""The open-set rule (``faceapp.decide``) and the best-two-people search under it
(``faceapp.match.best_two_people``): the threshold for a gallery's size, the margin, the judge
limits, on the shipped encoder's encodings of the in-repo faces and the shipped card's levels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from faceapp.decide import JudgeLimits, OpenSetRule, decide, decide_many, interpolate_log
from faceapp.embed import read_card
from faceapp.images import load_image
from faceapp.match import Gallery, best_two_people, identify
from faceapp.quality import FaceQuality

from conftest import RepoFaces

TABLE = {1: 1.2, 10: 1.0, 100: 0.8}


def test_the_threshold_follows_the_gallery_size_in_log_steps_under_the_1v1_cap() -> None:
    rule = OpenSetRule.from_table(cap=1.1, table=TABLE)
    assert rule.threshold_for(1) == 1.1  # the table's 1.2 is looser than the 1:1 threshold: capped
    assert rule.threshold_for(10) == pytest.approx(1.0)
    assert rule.threshold_for(100) == pytest.approx(0.8)
    # halfway between 10 and 100 in log(N): sqrt(10 * 100) people
    assert rule.threshold_for(round(math.sqrt(1000))) == pytest.approx(0.9, abs=2e-3)
    assert rule.threshold_for(1_000_000) == pytest.approx(0.8)  # beyond the table: its strictest
    assert interpolate_log(tuple(TABLE.items()), 3) == pytest.approx(1.2 - 0.2 * math.log10(3))


def test_an_explicit_threshold_replaces_the_table_and_no_table_means_the_cap() -> None:
    assert OpenSetRule.from_table(cap=1.1, table=TABLE, fixed=0.5).threshold_for(100) == 0.5
    assert OpenSetRule.from_table(cap=1.1, table=None).threshold_for(100) == 1.1


def test_best_two_people_reports_the_nearest_other_person_by_the_mean_of_their_templates() -> None:
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((5, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    gallery = Gallery(rows, np.array([7, 7, 7, 8, 9]), {7: "A", 8: "B", 9: "C"}, "m")
    means = gallery.people  # A as the mean of her three templates, B and C as they are
    query = means.for_person(7)[0] + 0.05 * rows[3]
    query = (query / np.linalg.norm(query)).astype(np.float32)
    best, best_d, second, second_d = best_two_people(query[None, :], gallery)
    d = np.linalg.norm(means.encodings - query, axis=1)
    assert means.person_ids[best[0]] == 7 and best_d[0] == pytest.approx(d[best[0]], abs=1e-5)
    runner_up = int(np.argmin(np.where(means.person_ids == 7, np.inf, d)))
    assert second[0] == runner_up and second_d[0] == pytest.approx(d[runner_up], abs=1e-5)
    assert best_d[0] == pytest.approx(identify(query, gallery, 2.0).distance, abs=1e-12)  # the same distance as identify's
    alone = Gallery(rows[:3], np.array([7, 7, 7]), {7: "A"}, "m")
    assert best_two_people(query[None, :], alone)[2][0] == -1 and best_two_people(query[None, :], alone)[3][0] == math.inf
    empty = best_two_people(query[None, :], Gallery.empty(16, "m"))
    assert empty[0][0] == -1 and empty[1][0] == math.inf


@pytest.fixture(scope="module")
def encoded(shipped_pipeline, repo_faces: RepoFaces) -> dict[str, list]:
    """(encoding, FaceQuality) of every in-repo photo, by folder."""
    people = {}
    for folder, photos in repo_faces.people.items():
        faces = [shipped_pipeline.encode_one(load_image(p), largest=True) for p in photos]
        people[folder] = [(f.encoding, f.quality) for f in faces]
    return people


def gallery_of(people: dict[str, list[np.ndarray]]) -> Gallery:
    rows, ids, names = [], [], {}
    for number, (name, encodings) in enumerate(people.items(), 1):
        rows += encodings
        ids += [number] * len(encodings)
        names[number] = name
    return Gallery(np.stack(rows), np.array(ids), names, "m")


def test_an_enrolled_person_is_named_with_the_threshold_and_runner_up_that_explain_it(encoded, shipped_model_card) -> None:
    e = encoded["person-e"]
    card = read_card(shipped_model_card)
    rule = OpenSetRule.from_table(card.default_threshold, card.fpir_thresholds.get(card.default_fpir), card.min_margin)
    doorway = [enc for enc, _ in encoded["doorway-1"]]
    gallery = gallery_of({"E": [enc for enc, _ in e[:2]], "Doorway": doorway})
    probe, quality = e[-1]  # a photo of the other clip
    decision = decide(probe, gallery, rule, quality)
    assert decision.accepted and decision.name == "E" and decision.reason == "match"
    assert decision.distance <= decision.threshold == rule.threshold_for(2)
    assert decision.runner_up == "Doorway" and decision.runner_up_distance > decision.distance + rule.min_margin
    assert decision.quality == quality.value
    assert decision.person_id == 1 and decision.margin == pytest.approx(decision.runner_up_distance - decision.distance)


def test_two_people_about_as_close_and_a_distant_face_stay_unknown(encoded) -> None:
    e = [enc for enc, _ in encoded["person-e"]]
    probe, quality = encoded["person-e"][-1]
    twins = gallery_of({"E": e[:2], "E's twin": e[2:4]})  # E enrolled twice under two names
    margin = abs(decide(probe, twins, OpenSetRule(cap=2.0), quality).margin)
    ambiguous = decide(probe, twins, OpenSetRule(cap=2.0, min_margin=margin + 0.01), quality)
    assert not ambiguous.accepted and ambiguous.name is None and ambiguous.reason == "ambiguous"
    assert ambiguous.runner_up in ("E", "E's twin") and math.isfinite(ambiguous.distance)
    far = decide(probe, gallery_of({"E": e[:2]}), OpenSetRule(cap=0.1), quality)
    assert (far.accepted, far.reason, far.runner_up) == (False, "too far", None)


def test_faces_too_poor_to_judge_stay_unknown_whatever_their_distance(encoded) -> None:
    doorway = [enc for enc, _ in encoded["doorway-1"]]
    probe, quality = encoded["doorway-1"][0]
    assert JudgeLimits().problems(quality)  # a small profile in a doorway
    decision = decide(probe, gallery_of({"Doorway": doorway}), OpenSetRule(cap=2.0), quality)
    assert not decision.accepted and decision.reason == "quality"
    lenient = JudgeLimits(min_pixels=0, min_sharpness=0, max_yaw=10, min_score=0)
    assert decide(probe, gallery_of({"Doorway": doorway}), OpenSetRule(cap=2.0, limits=lenient), quality).accepted


def test_judge_limits_name_each_problem() -> None:
    good = FaceQuality(size=80, sharpness=60, yaw=0.1, score=0.95)
    assert JudgeLimits().problems(good) == [] and JudgeLimits().judgeable(good)
    poor = FaceQuality(size=20, sharpness=5, yaw=-0.9, score=0.6)
    assert JudgeLimits().problems(poor) == ["too small", "blurred", "turned away", "covered or unclear"]
    assert JudgeLimits().judgeable(None)  # unknown quality (a track's evidence) is judged


def test_decide_many_needs_one_quality_per_encoding_and_an_empty_gallery_names_nobody(encoded) -> None:
    probe, quality = encoded["person-e"][0]
    with pytest.raises(ValueError, match="qualities"):
        decide_many(np.stack([probe, probe]), gallery_of({"E": [probe]}), OpenSetRule(cap=1.0), [quality])
    (nobody,) = decide_many(probe[None, :], Gallery.empty(128, "m"), OpenSetRule(cap=1.0), [quality])
    assert nobody.reason == "nobody enrolled" and nobody.distance == math.inf and not nobody.accepted


def test_the_shipped_card_holds_open_set_levels_stricter_for_bigger_galleries(shipped_model_card: Path) -> None:
    card = read_card(shipped_model_card)
    assert card.default_fpir in card.fpir_thresholds and 0 < card.min_margin < 0.2
    for level, by_size in card.fpir_thresholds.items():
        sizes = sorted(by_size)
        assert sizes[0] == 1 and sizes[-1] >= 10_000
        assert all(by_size[a] > by_size[b] for a, b in zip(sizes, sizes[1:])), level
    levels = sorted(card.fpir_thresholds, key=float)  # a lower FPIR is never looser at any size
    for stricter, looser in zip(levels, levels[1:]):  # (equal only past the data, where the tail is capped)
        assert all(card.fpir_thresholds[stricter][n] <= card.fpir_thresholds[looser][n] for n in card.fpir_thresholds[stricter])
        assert card.fpir_thresholds[stricter][100] < card.fpir_thresholds[looser][100]
