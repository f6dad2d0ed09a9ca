"""Cohort normalisation: a face that lies close to many people must come closer to be named.

Some faces sit near a crowd of other identities in the encoder's space: blurred or small webcam
shots, heavy make-up, faces turned away. Such a face is near whoever is enrolled, so a fixed
threshold names it (a stranger who "looks like" someone) far more often than a typical face.
The card's cohort is one mean encoding per identity the encoder was trained on (no image, no
name): a face's *crowding* is its mean cosine similarity to its ``k`` most similar cohort rows.

Every distance between a face being judged and an enrolled person grows by how much more
crowded the face is than a typical one::

    d' = sqrt(d^2 + 2 max(crowding - reference, 0))

which is the distance of the similarity ``cos - max(crowding - reference, 0)``: an adjustment of
the score, never of the ranking, since it depends on the face alone (the nearest person stays
the nearest). ``reference`` is the crowding of a typical held-out face. A face less crowded than
that keeps its plain distance rather than getting an easier one: faces unlike the training
people (webcam frames, and presumably the children and elderly people the celebrity training
sets lack) are the least crowded, and a stranger among them must not be named more easily
than before. The card's thresholds are calibrated on adjusted distances. What it gains (named
right at the same share of strangers rejected, in the wild and at a webcam) is measured in
README, "Naming faces".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .images import file_sha256


@dataclass(frozen=True, eq=False)
class Cohort:
    """``rows`` (N, D) float32 unit encodings of N other people, ``k`` how many of the nearest
    count, and ``reference`` the crowding of a typical face (see the module's docstring)."""

    rows: np.ndarray
    k: int
    reference: float

    def __post_init__(self) -> None:
        rows = np.ascontiguousarray(self.rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[0] < 1:
            raise ValueError(f"a cohort needs a (N, D) array of encodings, got shape {rows.shape}")
        if not 1 <= int(self.k) <= rows.shape[0]:
            raise ValueError(f"cohort k must be between 1 and its {rows.shape[0]} rows, got {self.k}")
        norms = np.linalg.norm(rows, axis=1)
        if not np.all(np.abs(norms - 1.0) < 1e-2):  # float16 on disk: normalised to ~1e-3
            raise ValueError("cohort rows must be L2-normalised encodings")
        rows.flags.writeable = False
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "reference", float(self.reference))

    @property
    def dim(self) -> int:
        return int(self.rows.shape[1])

    def crowding(self, queries: np.ndarray) -> np.ndarray:
        """(Q,) float64: each unit query row's mean cosine to its ``k`` most similar cohort rows."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} dimensions but the cohort has {self.dim}")
        out = np.empty(q.shape[0])
        cut = self.rows.shape[0] - self.k
        for i, row in enumerate(q):  # one product per face: the same answer however many are asked at once
            out[i] = np.partition(self.rows @ row, cut)[cut:].astype(np.float64).mean()
        return out

    def adjust(self, distances: np.ndarray | float, crowding: np.ndarray | float) -> np.ndarray:
        """Distances from faces of the given crowding (broadcast against each other) as the
        card's thresholds mean them: never shorter than the plain ones; inf stays inf."""
        d = np.asarray(distances, dtype=np.float64)
        shift = 2.0 * np.maximum(np.asarray(crowding, dtype=np.float64) - self.reference, 0.0)
        with np.errstate(invalid="ignore"):
            out = np.sqrt(d * d + shift)
        return np.where(np.isinf(d), d, out)


def load_cohort(path: str | Path, sha256: str, k: int, reference: float) -> Cohort:
    """The card's cohort file (a float16 .npy), checked against its sha256 first."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"cohort file not found: {path} (reinstall faceapp's assets/ or choose another model card)")
    if file_sha256(path) != sha256:
        raise ModelError(f"cohort file {path} is damaged (its sha256 differs from the model card's)")
    try:
        rows = np.load(path, allow_pickle=False)
        return Cohort(rows.astype(np.float32), k, reference)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read cohort file {path}: {exc}") from None
