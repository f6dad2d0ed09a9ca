"""Triplet loss with online mining, built from separate, swappable pieces.

``distance`` turns a batch of embeddings into a pairwise matrix, a ``miner`` picks
(anchor, positive, negative) index triplets from that matrix and the labels, and
:class:`TripletLoss` averages the hinge over the mined triplets. The teacher terms and the
optional large-margin classification term (:class:`CosFaceLoss`) live here too, each as its
own small loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def euclidean_distances(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, B) Euclidean distances; eps inside the sqrt keeps the gradient finite at 0."""
    squared = (embeddings.unsqueeze(1) - embeddings.unsqueeze(0)).pow(2).sum(-1)
    return torch.sqrt(squared.clamp_min(0) + eps)


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same  # positives (not self), negatives


class Miner(Protocol):
    def __call__(self, distances: torch.Tensor, labels: torch.Tensor) -> Triplets: ...


class BatchHardMiner:
    """For each anchor: its farthest positive and its nearest negative (Hermans et al. 2017)."""

    def __call__(self, distances: torch.Tensor, labels: torch.Tensor) -> Triplets:
        positive, negative = _masks(labels)
        d = distances.detach()
        has_both = positive.any(1) & negative.any(1)
        hardest_pos = torch.where(positive, d, torch.full_like(d, -float("inf"))).argmax(1)
        hardest_neg = torch.where(negative, d, torch.full_like(d, float("inf"))).argmin(1)
        anchors = torch.nonzero(has_both).squeeze(1)
        return anchors, hardest_pos[anchors], hardest_neg[anchors]


class SemiHardMiner:
    """For each (anchor, positive) pair: the nearest negative that is farther than the positive
    but inside the margin (FaceNet's semi-hard rule); if none, the nearest farther negative;
    if none is farther at all, the farthest negative (the easiest violation)."""

    def __init__(self, margin: float) -> None:
        self.margin = margin

    def __call__(self, distances: torch.Tensor, labels: torch.Tensor) -> Triplets:
        positive, negative = _masks(labels)
        d = distances.detach()
        anchors, positives = torch.nonzero(positive, as_tuple=True)
        d_ap = d[anchors, positives].unsqueeze(1)  # (T, 1)
        d_an = d[anchors]  # (T, B)
        neg = negative[anchors]
        inf = torch.full_like(d_an, float("inf"))
        farther = neg & (d_an > d_ap)
        semi = farther & (d_an < d_ap + self.margin)
        pick_semi = torch.where(semi, d_an, inf).argmin(1)
        pick_farther = torch.where(farther, d_an, inf).argmin(1)
        pick_any = torch.where(neg, d_an, -inf).argmax(1)
        chosen = torch.where(semi.any(1), pick_semi, torch.where(farther.any(1), pick_farther, pick_any))
        keep = neg.any(1)
        return anchors[keep], positives[keep], chosen[keep]


class BatchAllMiner:
    """Every valid triplet in the batch whose hinge is still positive."""

    def __init__(self, margin: float) -> None:
        self.margin = margin

    def __call__(self, distances: torch.Tensor, labels: torch.Tensor) -> Triplets:
        positive, negative = _masks(labels)
        d = distances.detach()
        valid = positive.unsqueeze(2) & negative.unsqueeze(1)  # [a, p, n]
        violating = valid & (d.unsqueeze(2) - d.unsqueeze(1) + self.margin > 0)
        a, p, n = torch.nonzero(violating, as_tuple=True)
        return a, p, n


@dataclass
class TripletStats:
    loss: float
    triplets: int
    active_fraction: float  # triplets whose hinge is > 0: near 0 or 1 both signal trouble
    mean_positive: float
    mean_negative: float


class TripletLoss:
    """mean over mined triplets of max(0, d(a,p) - d(a,n) + margin), or the soft-margin
    variant log(1 + exp(d(a,p) - d(a,n)))."""

    def __init__(
        self,
        margin: float = 0.2,
        miner: Miner | None = None,
        distance: Callable[[torch.Tensor], torch.Tensor] = euclidean_distances,
        soft: bool = False,
    ) -> None:
        self.margin = margin
        self.miner = miner or BatchHardMiner()
        self.distance = distance
        self.soft = soft
        self.last: TripletStats | None = None

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        distances = self.distance(embeddings.float())
        a, p, n = self.miner(distances, labels)
        if len(a) == 0:
            self.last = TripletStats(0.0, 0, 0.0, float("nan"), float("nan"))
            return embeddings.sum() * 0.0  # keeps the graph, contributes nothing
        gap = distances[a, p] - distances[a, n]
        hinge = F.softplus(gap) if self.soft else F.relu(gap + self.margin)
        loss = hinge.mean()
        with torch.no_grad():
            active = (gap + (0.0 if self.soft else self.margin) > 0).float().mean()
            self.last = TripletStats(
                float(loss), int(len(a)), float(active), float(distances[a, p].mean()), float(distances[a, n].mean())
            )
        return loss


def teacher_cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cosine) between student and teacher encodings (distillation term)."""
    return (1 - F.cosine_similarity(student.float(), teacher.float(), dim=1)).mean()


def teacher_distance_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational distillation: match the batch's pairwise distances to the teacher's.

    Each distance matrix is divided by its own mean off-diagonal distance, so the unit-sphere
    student and dlib's unnormalised 128-D space are compared by shape, not scale; Huber loss
    between the two. This carries the teacher's own metric (raw Euclidean distance, which on
    held-out CelebA pairs tells people apart better than cosine on centred encodings: README,
    "The shipped encoder", ``benchmarks/bench_teacher.py``) where the cosine term only
    carries directions.
    """
    n = len(student)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=student.device)
    ds = euclidean_distances(student.float())[off_diagonal]
    dt = euclidean_distances(teacher.float())[off_diagonal]
    return F.smooth_l1_loss(ds / ds.mean().clamp_min(1e-6), dt / dt.mean().clamp_min(1e-6))


class CosFaceLoss(nn.Module):
    """Large-margin cosine loss (CosFace): cross-entropy over ``scale * (cos - margin)`` at the
    true identity and ``scale * cos`` at every other one, cos being the cosine between a face's
    encoding and each identity's weight vector.

    A triplet batch compares a face with the few identities in its batch; this term compares it
    with every training identity at each step. Added on top of the triplet loss, never instead.
    """

    def __init__(self, num_classes: int, dim: int, scale: float = 30.0, margin: float = 0.25) -> None:
        super().__init__()
        if num_classes < 2 or scale <= 0 or not 0 <= margin < 1:
            raise ValueError(f"need 2+ classes, scale > 0 and 0 <= margin < 1, got {num_classes}, {scale}, {margin}")
        self.scale, self.margin = float(scale), float(margin)
        self.weight = nn.Parameter(F.normalize(torch.randn(num_classes, dim), dim=1))

    @torch.no_grad()
    def imprint(self, centres: torch.Tensor | np.ndarray) -> None:
        """Start each identity's weight at the mean direction of its faces' encodings, so the
        term is meaningful from the first step instead of needing a warm-up."""
        centres = torch.as_tensor(np.asarray(centres), dtype=self.weight.dtype, device=self.weight.device)
        if centres.shape != self.weight.shape:
            raise ValueError(f"expected centres of shape {tuple(self.weight.shape)}, got {tuple(centres.shape)}")
        self.weight.copy_(F.normalize(centres, dim=1))

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cosine = F.normalize(embeddings.float(), dim=1) @ F.normalize(self.weight, dim=1).t()
        logits = self.scale * (cosine - self.margin * F.one_hot(targets, cosine.shape[1]))
        return F.cross_entropy(logits, targets)


def class_centres(encodings: np.ndarray, targets: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, dim) unit mean encoding of each class (targets in 0..num_classes-1)."""
    centres = np.zeros((num_classes, encodings.shape[1]), np.float64)
    np.add.at(centres, targets, encodings)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("every class needs at least one encoding")
    return (centres / norms).astype(np.float32)


def make_miner(name: str, margin: float) -> Miner:
    miners: dict[str, Callable[[], Miner]] = {
        "batch-hard": BatchHardMiner,
        "semi-hard": lambda: SemiHardMiner(margin),
        "batch-all": lambda: BatchAllMiner(margin),
    }
    if name not in miners:
        raise ValueError(f"unknown miner {name!r}: choose one of {sorted(miners)}")
    return miners[name]()
