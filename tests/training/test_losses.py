"""Specification of training.losses: distances, the three miners, the triplet loss, the teacher
terms and the CosFace term.

Every expected value below is worked out by hand from tiny embeddings or distance matrices,
so a miner that picks the wrong triplet or a loss with the wrong formula fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.losses import (
    BatchAllMiner,
    BatchHardMiner,
    CosFaceLoss,
    SemiHardMiner,
    TripletLoss,
    class_centres,
    euclidean_distances,
    make_miner,
    teacher_cosine_loss,
    teacher_distance_loss,
)

# Six points on a line (2-D, y = 0): class 0 at x = 0, 1, 4 and class 1 at x = 2, 7, 9.
LINE_X = [0.0, 1.0, 4.0, 2.0, 7.0, 9.0]
LINE_LABELS = [0, 0, 0, 1, 1, 1]
# Batch-hard by hand, anchor by anchor: (farthest positive, nearest negative) and d(a,p) - d(a,n).
#   a0 x=0: positives 1 (1), 2 (4) -> 2; negatives 3 (2), 4 (7), 5 (9) -> 3; gap 4 - 2 = 2
#   a1 x=1: positives 0 (1), 2 (3) -> 2; negatives 3 (1), 4 (6), 5 (8) -> 3; gap 3 - 1 = 2
#   a2 x=4: positives 0 (4), 1 (3) -> 0; negatives 3 (2), 4 (3), 5 (5) -> 3; gap 4 - 2 = 2
#   a3 x=2: positives 4 (5), 5 (7) -> 5; negatives 0 (2), 1 (1), 2 (2) -> 1; gap 7 - 1 = 6
#   a4 x=7: positives 3 (5), 5 (2) -> 3; negatives 0 (7), 1 (6), 2 (3) -> 2; gap 5 - 3 = 2
#   a5 x=9: positives 3 (7), 4 (2) -> 3; negatives 0 (9), 1 (8), 2 (5) -> 2; gap 7 - 5 = 2
LINE_HARD_POS = [2, 2, 0, 5, 3, 3]
LINE_HARD_NEG = [3, 3, 3, 1, 2, 2]
LINE_GAPS = [2.0, 2.0, 2.0, 6.0, 2.0, 2.0]


def line_batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor(LINE_X)
    return torch.stack([x, torch.zeros_like(x)], dim=1), torch.tensor(LINE_LABELS)


def fixed(matrix: list[list[float]]):
    """A 'distance' that ignores the embeddings and returns this matrix (to test miners exactly)."""
    table = torch.tensor(matrix)
    return lambda embeddings: table


def as_set(triplets) -> set[tuple[int, int, int]]:
    a, p, n = triplets
    return set(zip(a.tolist(), p.tolist(), n.tolist()))


# -- distances ---------------------------------------------------------------------------


def test_euclidean_distances_match_torch_cdist() -> None:
    embeddings = torch.randn(9, 16, generator=torch.Generator().manual_seed(0))
    expected = torch.cdist(embeddings, embeddings)
    assert torch.allclose(euclidean_distances(embeddings), expected, atol=1e-5)


def test_euclidean_distances_of_the_line_are_the_absolute_differences() -> None:
    embeddings, _ = line_batch()
    x = torch.tensor(LINE_X)
    assert torch.allclose(euclidean_distances(embeddings), (x[:, None] - x[None, :]).abs(), atol=1e-5)


# -- batch-hard --------------------------------------------------------------------------


def test_batch_hard_picks_farthest_positive_and_nearest_negative() -> None:
    embeddings, labels = line_batch()
    anchors, positives, negatives = BatchHardMiner()(euclidean_distances(embeddings), labels)
    assert anchors.tolist() == [0, 1, 2, 3, 4, 5]
    assert positives.tolist() == LINE_HARD_POS
    assert negatives.tolist() == LINE_HARD_NEG


def test_batch_hard_loss_is_the_mean_hinge_of_the_hardest_triplets() -> None:
    embeddings, labels = line_batch()
    margin = 0.5
    loss = TripletLoss(margin, BatchHardMiner())(embeddings, labels)
    expected = sum(max(0.0, gap + margin) for gap in LINE_GAPS) / len(LINE_GAPS)  # 19/6
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(19 / 6)


def test_batch_hard_skips_anchors_without_a_positive() -> None:
    # Label 2 has a single sample: it can be a negative, never an anchor.
    distances = euclidean_distances(torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [6.0, 0.0], [3.0, 0.0]]))
    anchors, positives, negatives = BatchHardMiner()(distances, torch.tensor([0, 0, 1, 1, 2]))
    assert anchors.tolist() == [0, 1, 2, 3]
    assert positives.tolist() == [1, 0, 3, 2]
    assert negatives.tolist() == [4, 4, 4, 4]  # x=3 is the nearest other-class point for all of them


def test_well_separated_classes_give_zero_hard_margin_loss() -> None:
    embeddings = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    loss_fn = TripletLoss(0.2, BatchHardMiner())
    loss = loss_fn(embeddings, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == 0.0
    assert loss_fn.last is not None and loss_fn.last.active_fraction == 0.0 and loss_fn.last.triplets == 4


def test_soft_margin_is_softplus_of_the_gap() -> None:
    embeddings, labels = line_batch()
    loss = TripletLoss(0.5, BatchHardMiner(), soft=True)(embeddings, labels)
    expected = sum(math.log1p(math.exp(gap)) for gap in LINE_GAPS) / len(LINE_GAPS)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_soft_margin_ignores_the_margin_value() -> None:
    embeddings, labels = line_batch()
    a = TripletLoss(0.1, BatchHardMiner(), soft=True)(embeddings, labels)
    b = TripletLoss(0.9, BatchHardMiner(), soft=True)(embeddings, labels)
    assert a.item() == pytest.approx(b.item())


# -- semi-hard ---------------------------------------------------------------------------
# Labels [0, 0, 1, 2, 3]: only (0, 1) and (1, 0) are anchor-positive pairs, d(0, 1) = 1.0,
# and each row below is chosen to exercise one branch of the rule, with margin 0.5.

SEMI_LABELS = torch.tensor([0, 0, 1, 2, 3])
SEMI = [
    # anchor 0: negative 2 is hard (0.8 < 1), 3 (1.3) and 4 (1.2) are semi-hard -> nearest semi-hard: 4
    [0.0, 1.0, 0.8, 1.3, 1.2],
    # anchor 1: 4 is hard (0.5), 2 (2.0) and 3 (1.8) are farther than 1 + margin -> nearest farther: 3
    [1.0, 0.0, 2.0, 1.8, 0.5],
    [0.8, 2.0, 0.0, 1.0, 1.0],
    [1.3, 1.8, 1.0, 0.0, 1.0],
    [1.2, 0.5, 1.0, 1.0, 0.0],
]


def test_semi_hard_prefers_the_nearest_negative_inside_the_margin_then_the_nearest_farther() -> None:
    anchors, positives, negatives = SemiHardMiner(0.5)(torch.tensor(SEMI), SEMI_LABELS)
    assert anchors.tolist() == [0, 1]
    assert positives.tolist() == [1, 0]
    assert negatives.tolist() == [4, 3]


def test_semi_hard_falls_back_to_the_farthest_negative_when_all_are_hard() -> None:
    # Every negative is nearer than the positive (1.0): the rule takes the farthest of them.
    matrix = [
        [0.0, 1.0, 0.2, 0.5, 0.3],
        [1.0, 0.0, 0.9, 0.6, 0.95],
        [0.2, 0.9, 0.0, 1.0, 1.0],
        [0.5, 0.6, 1.0, 0.0, 1.0],
        [0.3, 0.95, 1.0, 1.0, 0.0],
    ]
    anchors, positives, negatives = SemiHardMiner(0.5)(torch.tensor(matrix), SEMI_LABELS)
    assert list(zip(anchors.tolist(), positives.tolist(), negatives.tolist())) == [(0, 1, 3), (1, 0, 4)]


def test_semi_hard_loss_by_hand() -> None:
    # Triplets (0, 1, 4): 1.0 - 1.2 + 0.5 = 0.3 and (1, 0, 3): 1.0 - 1.8 + 0.5 < 0 -> 0.
    loss_fn = TripletLoss(0.5, SemiHardMiner(0.5), distance=fixed(SEMI))
    loss = loss_fn(torch.zeros(5, 2), SEMI_LABELS)
    assert loss.item() == pytest.approx(0.15, rel=1e-6)
    assert loss_fn.last is not None and loss_fn.last.active_fraction == pytest.approx(0.5)


# -- batch-all ---------------------------------------------------------------------------

ALL = [
    # anchor 0 (positive 1 at 1.0): violating while d(0, n) < 1.5 -> n = 2 (0.8), 3 (1.3); not 4 (1.6)
    [0.0, 1.0, 0.8, 1.3, 1.6],
    # anchor 1 (positive 0 at 1.0): n = 3 (1.4), 4 (0.5); not 2 (2.0)
    [1.0, 0.0, 2.0, 1.4, 0.5],
    [0.8, 2.0, 0.0, 1.0, 1.0],
    [1.3, 1.4, 1.0, 0.0, 1.0],
    [1.6, 0.5, 1.0, 1.0, 0.0],
]


def test_batch_all_returns_only_violating_triplets() -> None:
    triplets = BatchAllMiner(0.5)(torch.tensor(ALL), SEMI_LABELS)
    assert as_set(triplets) == {(0, 1, 2), (0, 1, 3), (1, 0, 3), (1, 0, 4)}


def test_batch_all_loss_by_hand() -> None:
    # Hinges 0.7, 0.2, 0.1 and 1.0 -> mean 0.5.
    loss = TripletLoss(0.5, BatchAllMiner(0.5), distance=fixed(ALL))(torch.zeros(5, 2), SEMI_LABELS)
    assert loss.item() == pytest.approx(0.5, rel=1e-6)


def test_batch_all_on_separated_classes_mines_nothing_and_the_loss_is_zero_with_a_graph() -> None:
    embeddings = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]], requires_grad=True)
    loss_fn = TripletLoss(0.2, BatchAllMiner(0.2))
    loss = loss_fn(embeddings, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == 0.0 and loss_fn.last is not None and loss_fn.last.triplets == 0
    loss.backward()  # still differentiable: the training step can call backward unconditionally
    assert embeddings.grad is not None and torch.all(embeddings.grad == 0)


# -- robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize("miner", ["batch-hard", "semi-hard", "batch-all"])
def test_gradients_are_finite_when_embeddings_coincide(miner: str) -> None:
    # Rows 0 and 1 are identical (same person, same crop twice), and so are rows 2 and 4
    # (different people): d = 0 would make a plain sqrt's gradient infinite.
    base = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8], [0.0, 1.0, 0.0]])
    embeddings = base.clone().requires_grad_(True)
    loss = TripletLoss(0.2, make_miner(miner, 0.2))(embeddings, torch.tensor([0, 0, 1, 1, 2]))
    loss.backward()
    assert torch.isfinite(loss)
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()


def test_all_distinct_labels_mine_no_triplets() -> None:
    for miner in ("batch-hard", "semi-hard", "batch-all"):
        a, p, n = make_miner(miner, 0.2)(euclidean_distances(torch.randn(4, 3)), torch.tensor([0, 1, 2, 3]))
        assert len(a) == len(p) == len(n) == 0, miner


def test_make_miner_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown miner"):
        make_miner("hardest-ever", 0.2)


# -- teacher term --------------------------------------------------------------------------


def test_teacher_cosine_loss_on_known_vectors() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # cosines 1 (same direction, any length), 0 (orthogonal), -1 (opposite) -> 1 - cos = 0, 1, 2
    teacher = torch.tensor([[5.0, 0.0], [3.0, 0.0], [-2.0, 0.0]])
    assert teacher_cosine_loss(student, teacher).item() == pytest.approx(1.0)
    assert teacher_cosine_loss(student, student * 7).item() == pytest.approx(0.0, abs=1e-7)


def test_teacher_cosine_loss_accepts_float16_teachers() -> None:
    student = torch.tensor([[0.6, 0.8]])
    teacher = torch.tensor([[0.8, 0.6]], dtype=torch.float16)
    assert teacher_cosine_loss(student, teacher).item() == pytest.approx(1 - 0.96, abs=1e-3)


# -- relational teacher term -----------------------------------------------------------------


def test_teacher_distance_loss_ignores_scale_and_rigid_motion() -> None:
    student = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # a 3-4-5 triangle
    # The same triangle, 10x larger, rotated 90 degrees and moved: same shape, so no loss.
    teacher = torch.tensor([[5.0, 5.0], [5.0, 35.0], [-35.0, 5.0]])
    assert teacher_distance_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_teacher_distance_loss_on_a_hand_computed_triangle() -> None:
    # Student: right triangle 3-4-5 (mean side 4); teacher: equilateral, side 2 (mean 2).
    student = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    teacher = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3.0)]])
    # Normalised sides 3/4, 4/4, 5/4 against 1, 1, 1: differences -1/4, 0, 1/4, each under
    # Huber's beta of 1, so 0.5 * d^2 -> (1/32 + 0 + 1/32) / 3 = 1/48 (each pair twice).
    assert teacher_distance_loss(student, teacher).item() == pytest.approx(1 / 48, rel=1e-5)


def test_teacher_distance_loss_pulls_the_student_towards_the_teacher_geometry() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(16, 128)
    student = torch.nn.functional.normalize(torch.randn(16, 8), dim=1).requires_grad_()
    optimiser = torch.optim.SGD([student], lr=5.0)
    before = teacher_distance_loss(student, teacher).item()
    for _ in range(50):
        optimiser.zero_grad()
        teacher_distance_loss(student, teacher).backward()
        optimiser.step()
    assert teacher_distance_loss(student, teacher).item() < 0.5 * before


def test_cosface_subtracts_the_margin_at_the_true_identity_only() -> None:
    loss = CosFaceLoss(num_classes=2, dim=2, scale=10.0, margin=0.2)
    loss.imprint(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))  # imprinting keeps only the directions
    assert torch.allclose(loss.weight, torch.eye(2))
    embeddings = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # face 0, identity 0: logits 10 x (1 - 0.2) = 8 and 0; face 1, identity 1: 10 x 0.6 = 6 and 10 x (0.8 - 0.2) = 6
    expected = (math.log(1 + math.exp(-8.0)) + math.log(2.0)) / 2
    assert loss(embeddings, torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-5)
    # without the margin the second face would already be right (0.8 > 0.6): the margin is what pushes
    plain = CosFaceLoss(2, 2, scale=10.0, margin=0.0)
    plain.imprint(torch.eye(2))
    assert plain(embeddings[1:], torch.tensor([1])).item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-5)


def test_cosface_refuses_impossible_settings() -> None:
    for bad in ({"num_classes": 1}, {"scale": 0.0}, {"margin": 1.0}, {"margin": -0.1}):
        with pytest.raises(ValueError):
            CosFaceLoss(**{"num_classes": 3, "dim": 4, **bad})
    with pytest.raises(ValueError, match="shape"):
        CosFaceLoss(3, 4).imprint(torch.ones(2, 4))


def test_class_centres_are_the_unit_mean_direction_of_each_class() -> None:
    encodings = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.0, -1.0]], np.float32)
    centres = class_centres(encodings, np.array([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(centres, [[math.sqrt(0.5), math.sqrt(0.5)], [0.0, -1.0]], atol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        class_centres(encodings, np.array([0, 0, 0, 0]), 2)
