"""Specification of faceapp.evaluate: the LFW pairs format and the verification metrics,
checked on hand-made distances whose answers are known."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.align import center_crop_face
from faceapp.errors import FaceAppError
from faceapp.evaluate import (
    LFW_FALLBACK_FRACTION,
    Pair,
    best_threshold,
    evaluate_pairs,
    kfold_accuracy,
    lfw_image_path,
    pair_distances,
    prepare_pair_images,
    read_pairs,
    roc_auc,
    roc_curve,
    score_pairs,
    tar_at_far,
    threshold_at_far,
)

# -- the pairs file --------------------------------------------------------------------------


def write_pairs(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_view1_style_file_gets_stratified_folds(tmp_path: Path) -> None:
    # View 1 lists all 20 same pairs first, then 20 different pairs: folds are dealt round-robin
    # within each class, so each of the 10 folds has 2 of each.
    same = [f"Person_{i}\t1\t2" for i in range(20)]
    different = [f"Person_{i}\t1\tOther_{i}\t3" for i in range(20)]
    pairs = read_pairs(write_pairs(tmp_path / "pairs.txt", "20", same + different))
    assert len(pairs) == 40
    assert pairs[0] == Pair(("Person_0", 1), ("Person_0", 2), True, 0)
    assert pairs[20] == Pair(("Person_0", 1), ("Other_0", 3), False, 0)
    for fold in range(10):
        members = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in members) == 2 and sum(not p.same for p in members) == 2


def test_view2_style_header_means_consecutive_blocks(tmp_path: Path) -> None:
    # "2 3": 2 folds, each 3 same pairs then 3 different pairs.
    block = ["A 1 2", "B 1 2", "C 1 2", "A 1 B 1", "B 2 C 1", "C 2 A 2"]
    pairs = read_pairs(write_pairs(tmp_path / "pairs.txt", "2\t3", block + block))
    assert [p.fold for p in pairs] == [0] * 6 + [1] * 6
    assert [p.same for p in pairs] == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3
    assert pairs[4] == Pair(("B", 2), ("C", 1), False, 0)


def test_the_real_view1_file(lfw_dir: Path) -> None:
    pairs = read_pairs(lfw_dir / "pairsDevTest.txt")
    assert len(pairs) == 1000 and sum(p.same for p in pairs) == 500
    for fold in range(10):
        members = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in members) == 50 and len(members) == 100
    for p in pairs[:20] + pairs[-20:]:
        assert lfw_image_path(lfw_dir, *p.left).is_file() and lfw_image_path(lfw_dir, *p.right).is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not an LFW pairs file"),
        ("Abdullah_Gul 13 14\n", "first line should be a count"),
        ("1\nAbdullah_Gul 13\n", "line 2"),
        ("1\nA 1 B 2 C\n", "line 2"),
        ("1\nA one two\n", "line 2"),
        ("1\nA 1 B two\n", "line 2"),
        ("3\n", "holds no pairs"),
    ],
)
def test_malformed_pairs_files_raise_faceapp_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(content)
    with pytest.raises(FaceAppError, match=message):
        read_pairs(path)


def test_a_binary_file_given_as_pairs_is_not_an_lfw_pairs_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(FaceAppError, match=r"not an LFW pairs file \(not text\)"):
        read_pairs(path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["A 1 2", "B 1 2"], "no different-person pairs"),
        (["A 1 B 1", "B 2 C 1"], "no same-person pairs"),
        (["A 1 2", "A 1 B 1"], "one fold"),  # one of each: both dealt to fold 0
    ],
)
def test_pairs_the_protocol_cannot_score_are_refused(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(FaceAppError, match=message):
        read_pairs(write_pairs(tmp_path / "pairs.txt", "2", rows))


def test_two_pairs_of_each_kind_are_enough_to_score(tmp_path: Path) -> None:
    pairs = read_pairs(write_pairs(tmp_path / "pairs.txt", "2", ["A 1 2", "B 1 2", "A 1 B 1", "B 2 C 1"]))
    report = score_pairs(np.array([0.1, 0.2, 0.9, 1.0]), np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))
    assert report.accuracy == 1.0 and np.isfinite(list(report.tar_at_far.values())).all()


def test_a_missing_pairs_file_is_a_faceapp_error(tmp_path: Path) -> None:
    with pytest.raises(FaceAppError, match="cannot read"):
        read_pairs(tmp_path / "nope.txt")


# -- metrics ------------------------------------------------------------------------------------

SEPARABLE_D = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
SEPARABLE_SAME = np.array([True, True, True, False, False, False])


def test_best_threshold_of_separable_distances_is_midway_in_the_gap() -> None:
    assert best_threshold(SEPARABLE_D, SEPARABLE_SAME) == pytest.approx(0.45)


def test_best_threshold_with_overlap_maximises_accuracy() -> None:
    # same 0.1, 0.5; different 0.4, 0.9: 0.25 and 0.7 both get 3 of 4 right; the first wins.
    distances = np.array([0.1, 0.5, 0.4, 0.9])
    same = np.array([True, True, False, False])
    assert best_threshold(distances, same) == pytest.approx(0.25)


def test_kfold_accuracy_of_separable_pairs_is_one() -> None:
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 50)
    distances = np.where(same, rng.uniform(0.2, 0.8, 100), rng.uniform(1.0, 1.6, 100))
    folds = np.tile(np.arange(10), 10)
    mean, std, threshold = kfold_accuracy(distances, same, folds)
    assert (mean, std) == (1.0, 0.0)
    assert distances[same].max() < threshold < distances[~same].min()


def test_kfold_accuracy_uses_thresholds_from_the_other_folds() -> None:
    # Fold 1's genuine pair is at 0.5, above everything the other fold taught (threshold 0.45
    # from fold 0): it is rejected there, so fold 1 scores 1/2 although a threshold of its own
    # would have got it right. Fold 0 is judged with fold 1's threshold 0.55 and scores 1.
    distances = np.array([0.3, 0.6, 0.5, 0.6])
    same = np.array([True, False, True, False])
    folds = np.array([0, 0, 1, 1])
    mean, std, _ = kfold_accuracy(distances, same, folds)
    assert mean == pytest.approx(0.75) and std == pytest.approx(0.25)


def test_roc_auc_of_separable_reversed_and_interleaved_distances() -> None:
    assert roc_auc(SEPARABLE_D, SEPARABLE_SAME) == pytest.approx(1.0)
    assert roc_auc(SEPARABLE_D, ~SEPARABLE_SAME) == pytest.approx(0.0)
    # genuine 1, 3; impostor 2, 4: a genuine pair is closer than an impostor pair in 3 of 4 cases
    assert roc_auc(np.array([1.0, 3.0, 2.0, 4.0]), np.array([True, True, False, False])) == pytest.approx(0.75)


def test_roc_curve_starts_at_zero_and_ends_at_one() -> None:
    far, tar, thresholds = roc_curve(SEPARABLE_D, SEPARABLE_SAME)
    assert (far[0], tar[0]) == (0.0, 0.0) and (far[-1], tar[-1]) == (1.0, 1.0)
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0) and np.all(np.diff(thresholds) > 0)


@pytest.mark.parametrize("far", [0.1, 0.01, 0.001, 0.0005])
def test_threshold_at_far_guarantees_the_false_accept_rate_and_is_the_largest_that_does(far: float) -> None:
    rng = np.random.default_rng(1)
    impostors = rng.uniform(0.5, 1.8, 5000)
    threshold = threshold_at_far(impostors, far)
    accepted = np.mean(impostors <= threshold)
    assert accepted <= far
    # The next impostor up would break the guarantee: the threshold is as loose as allowed.
    assert np.mean(impostors <= np.sort(impostors)[np.sum(impostors <= threshold)]) > far
    assert np.sum(impostors <= threshold) == int(np.floor(far * len(impostors)))


def test_threshold_at_far_edges() -> None:
    impostors = np.array([0.5, 0.7, 0.9, 1.1])
    assert threshold_at_far(impostors, 0.1) < 0.5  # fewer than one impostor allowed: below them all
    assert threshold_at_far(impostors, 0.25) == pytest.approx(0.7 - 1e-6)  # exactly one allowed
    assert threshold_at_far(impostors, 1.0) == pytest.approx(1.1)  # everything allowed


def test_tar_at_far_by_hand() -> None:
    genuine = np.array([0.1, 0.2, 0.3, 0.9])
    impostors = np.linspace(0.25, 2.0, 100)  # FAR 1%: one impostor (0.25) may pass, not 0.2677...
    distances = np.concatenate([genuine, impostors])
    same = np.concatenate([np.ones(4, bool), np.zeros(100, bool)])
    tar, threshold = tar_at_far(distances, same, 0.01)
    assert 0.25 < threshold < impostors[1]
    assert tar == pytest.approx(0.5)  # 0.1 and 0.2 pass; 0.3 and 0.9 lie above the threshold


def test_score_pairs_of_separable_pairs() -> None:
    folds = np.array([0, 1, 2, 0, 1, 2])
    report = score_pairs(SEPARABLE_D, SEPARABLE_SAME, folds, detection_failures=1, images=9)
    assert report.accuracy == 1.0 and report.auc == pytest.approx(1.0) and report.pairs == 6
    assert set(report.tar_at_far) == {"0.01", "0.001"}
    assert report.to_dict()["detection_failures"] == 1 and report.images == 9


def test_pair_distances_and_evaluate_pairs_on_hand_made_encodings() -> None:
    pairs = [
        Pair(("A", 1), ("A", 2), True, 0),
        Pair(("A", 1), ("B", 1), False, 0),
        Pair(("B", 1), ("B", 2), True, 1),
        Pair(("A", 2), ("B", 2), False, 1),
    ]
    e = {("A", 1): [1.0, 0.0], ("A", 2): [0.8, 0.6], ("B", 1): [0.0, 1.0], ("B", 2): [-0.6, 0.8]}
    encodings = {k: np.array(v) for k, v in e.items()}
    distances, same, folds = pair_distances(pairs, encodings)
    np.testing.assert_allclose(distances, [np.hypot(0.2, 0.6), np.sqrt(2), np.hypot(0.6, 0.2), np.hypot(1.4, 0.2)])
    assert same.tolist() == [True, False, True, False] and folds.tolist() == [0, 0, 1, 1]
    # evaluate_pairs embeds each image once, in sorted key order, through the given function.
    crops = {k: np.full((2, 2, 3), i, np.uint8) for i, k in enumerate(sorted(e))}
    calls = []

    def embed(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return np.stack([e[sorted(e)[int(c[0, 0, 0])]] for c in batch])

    report = evaluate_pairs(pairs, crops, embed)
    assert calls == [4] and report.images == 4 and report.accuracy == 1.0


# -- finding the faces of the pairs --------------------------------------------------------------


@pytest.fixture
def lfw_like(faces_lfw_layout: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A tmp LFW-style folder (two real people and a blank 'person') and a pairs file naming them."""
    images = tmp_path / "lfw"
    for name in ("Person_E", "Doorway_1"):
        shutil.copytree(faces_lfw_layout / name, images / name)
    (images / "Blank_Face").mkdir()
    cv2.imwrite(str(images / "Blank_Face" / "Blank_Face_0001.jpg"), np.full((250, 250, 3), 200, np.uint8))
    pairs = write_pairs(
        tmp_path / "pairs.txt", "2",
        ["Person_E\t1\t9", "Person_E\t1\tBlank_Face\t1", "Doorway_1\t1\tPerson_E\t2"],
    )
    return images, pairs


def test_prepare_pair_images_counts_a_failure_and_still_returns_a_crop(lfw_like: tuple[Path, Path], yunet_detector) -> None:
    images, pairs_file = lfw_like
    pairs = read_pairs(pairs_file)
    crops, failures = prepare_pair_images(pairs, images, yunet_detector)
    assert set(crops) == {("Person_E", 1), ("Person_E", 9), ("Person_E", 2), ("Doorway_1", 1), ("Blank_Face", 1)}
    assert failures == [str(images / "Blank_Face" / "Blank_Face_0001.jpg")]
    assert all(c.shape == (112, 112, 3) and c.dtype == np.uint8 for c in crops.values())
    blank = np.full((250, 250, 3), 200, np.uint8)
    np.testing.assert_array_equal(crops[("Blank_Face", 1)], center_crop_face(blank, LFW_FALLBACK_FRACTION))


def test_prepare_pair_images_fails_on_a_missing_image(lfw_like: tuple[Path, Path], yunet_detector) -> None:
    images, _ = lfw_like
    with pytest.raises(FaceAppError, match="no such file"):
        prepare_pair_images([Pair(("Doorway_1", 1), ("Doorway_1", 7), True, 0)], images, yunet_detector)
