"""Open-set decisions: a name or "Unknown" for a face (or a track's evidence), the same rule for
photos, video and live sources.

Three rules, applied in this order:

1. **Judgeable faces only.** A face too small, blurred, turned away or doubtful to the detector
   stays Unknown (reason ``"quality"``): its encoding is a guess, and a guess is how strangers
   get names. The limits (:class:`JudgeLimits`) are looser than enrollment's
   (``faceapp.quality``), which wants the best shots, not merely usable ones.
2. **A 1:N threshold that grows stricter with the gallery.** Each enrolled person is one more
   chance for a stranger to fall within the threshold, so for a false-positive identification
   rate (FPIR, the share of strangers who get some name) the per-person threshold ``t`` solves
   ``P(min over N impostor distances <= t) = FPIR``. The model card holds, per FPIR level, the
   threshold for a series of gallery sizes (``training/calibrate_open_set.py``, from identities
   held out of training); :meth:`OpenSetRule.threshold_for` interpolates between them in
   log(N). It never exceeds the 1:1 threshold the configuration chose (``--far``), and an
   explicit ``--threshold`` replaces it.
3. **A margin.** The best person must be closer than the runner-up (the best *other* person)
   by ``min_margin``; two enrolled people about equally close is a guess between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .match import Gallery, best_two_people
from .types import Match

if TYPE_CHECKING:  # annotations only: faceapp.quality loads OpenCV
    from .quality import FaceQuality

# Faces past these limits are not judged: held-out CelebA faces past them were on average farther
# from their own person's other faces than the default 1:1 threshold (the card's
# thresholds.open_set.calibration.judge_limits, from training/calibrate_open_set.py).
MIN_JUDGE_PIXELS = 32.0  # shorter box side; the encoder's crop is 112 px, upscaled four times here
MIN_JUDGE_SHARPNESS = 20.0  # variance of the Laplacian of the aligned crop (enrollment wants 40)
MAX_JUDGE_YAW = 0.7  # nose offset from the eyes' midpoint in eye distances: a profile (enrollment: 0.35)
MIN_JUDGE_SCORE = 0.9  # YuNet's confidence; hands, profiles and occluded faces score lower

# Why a face got no name; "match" is the one reason a name is given.
REASONS = ("match", "too far", "ambiguous", "quality", "gathering", "nobody enrolled")  # gathering: faceapp.follow


@dataclass(frozen=True)
class JudgeLimits:
    """Which faces are good enough to decide on at all."""

    min_pixels: float = MIN_JUDGE_PIXELS
    min_sharpness: float = MIN_JUDGE_SHARPNESS
    max_yaw: float = MAX_JUDGE_YAW
    min_score: float = MIN_JUDGE_SCORE
    # The encoder's learned quality below its card's judge cut-off (FaceQuality.learned): off,
    # faces are judged on the hand-made measures alone.
    use_learned: bool = True

    def problems(self, quality: FaceQuality) -> list[str]:
        """What makes this face unjudgeable, in words; empty when it can be judged."""
        found = []
        if quality.size < self.min_pixels:
            found.append("too small")
        if quality.sharpness < self.min_sharpness:
            found.append("blurred")
        if abs(quality.yaw) > self.max_yaw:
            found.append("turned away")
        if quality.score < self.min_score:
            found.append("covered or unclear")
        learned = quality.learned
        if self.use_learned and learned is not None and learned.judge_min is not None and learned.value < learned.judge_min:
            found.append("unclear to the encoder")
        return found

    def judgeable(self, quality: FaceQuality | None) -> bool:
        return quality is None or not self.problems(quality)


@dataclass(frozen=True)
class OpenSetRule:
    """The configured open-set rule. ``by_size`` holds (gallery size, threshold) pairs of one FPIR
    level, ascending in size; ``cap`` is the 1:1 threshold it may not exceed; ``fixed`` (an
    explicit ``--threshold``) replaces both."""

    cap: float
    by_size: tuple[tuple[int, float], ...] = ()
    min_margin: float = 0.0
    fixed: float | None = None
    limits: JudgeLimits = field(default_factory=JudgeLimits)
    level: str | None = None  # the FPIR level ``by_size`` was calibrated for, for messages

    @classmethod
    def from_table(cls, cap: float, table: Mapping[int, float] | None, min_margin: float = 0.0,
                   fixed: float | None = None, level: str | None = None,
                   limits: JudgeLimits | None = None) -> OpenSetRule:
        pairs = tuple(sorted((int(n), float(t)) for n, t in (table or {}).items()))
        return cls(float(cap), pairs, float(min_margin), fixed, limits or JudgeLimits(), level)

    def threshold_for(self, people: int) -> float:
        """The distance under which a face is named in a gallery of ``people`` people."""
        if self.fixed is not None:
            return float(self.fixed)
        if not self.by_size:
            return self.cap
        return min(self.cap, interpolate_log(self.by_size, max(1, int(people))))


def interpolate_log(by_size: Sequence[tuple[int, float]], people: int) -> float:
    """The threshold at ``people``, linear in log(size) between the table's sizes; beyond the
    table the nearest end (the largest size's threshold is the strictest the card holds)."""
    sizes = np.log([n for n, _ in by_size])
    values = [t for _, t in by_size]
    return float(np.interp(math.log(people), sizes, values))


@dataclass(frozen=True)
class Decision(Match):
    """A :class:`~faceapp.types.Match` with its explanation: the threshold it was held to, the
    runner-up person and their distance, the face's quality figure (``FaceQuality.value``,
    0..1) and the encoder's learned quality where its card has a head, why it got no name, and, in a video, the track it belongs to and how many of the
    track's frames were evidence."""

    threshold: float = math.inf
    runner_up: str | None = None
    runner_up_distance: float = math.inf
    quality: float | None = None
    learned_quality: float | None = None  # FaceQuality.learned's value: higher, the encoding more trustworthy
    reason: str = "match"
    track: int | None = None
    evidence: int = 0

    @property
    def margin(self) -> float:
        return self.runner_up_distance - self.distance


def people_count(gallery: Gallery) -> int:
    return len(gallery.people)


def decide_many(encodings: np.ndarray, gallery: Gallery, rule: OpenSetRule,
                qualities: Sequence[FaceQuality | None] | None = None) -> list[Decision]:
    """The open-set decision for every row of (Q, D) ``encodings``; ``qualities`` (one per row,
    None where unknown) lets the judge limits keep poor faces Unknown."""
    encodings = np.asarray(encodings, np.float32).reshape(-1, gallery.dim or np.shape(encodings)[-1])
    qualities = list(qualities) if qualities is not None else [None] * len(encodings)
    if len(qualities) != len(encodings):
        raise ValueError(f"{len(qualities)} qualities for {len(encodings)} encodings")
    people = gallery.people  # best_two_people's rows are rows of this one-row-per-person gallery
    threshold = rule.threshold_for(len(people))  # an empty gallery counts as one person
    best, best_d, second, second_d = best_two_people(encodings, gallery)
    decisions = []
    for i, quality in enumerate(qualities):
        value = quality.value if quality is not None else None
        learned = quality.learned_value if quality is not None else None
        runner_up = people.names[int(people.person_ids[second[i]])] if second[i] >= 0 else None
        common = dict(threshold=threshold, runner_up=runner_up, runner_up_distance=float(second_d[i]), quality=value,
                      learned_quality=learned)
        if best[i] < 0:
            decisions.append(Decision(None, math.inf, False, None, reason="nobody enrolled", **common))
            continue
        pid = int(people.person_ids[best[i]])
        distance = float(best_d[i])
        if not rule.limits.judgeable(quality):
            reason = "quality"
        elif distance > threshold:
            reason = "too far"
        elif second_d[i] - distance < rule.min_margin:
            reason = "ambiguous"
        else:
            decisions.append(Decision(people.names[pid], distance, True, pid, **common))
            continue
        decisions.append(Decision(None, distance, False, None, reason=reason, **common))
    return decisions


def decide(encoding: np.ndarray, gallery: Gallery, rule: OpenSetRule, quality: FaceQuality | None = None) -> Decision:
    """:func:`decide_many` for one encoding."""
    return decide_many(np.asarray(encoding)[None, :], gallery, rule, [quality])[0]
