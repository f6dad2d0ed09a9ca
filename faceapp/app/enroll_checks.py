"""The checks a face passes before it becomes a template: good enough to judge, like the
person's other faces, and not already someone else's (the look-alike warning). A poor or
foreign template weakens every later match of the person, so it is refused, with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..cohort import Cohort
from ..errors import FaceAppError
from ..match import Gallery, identify_many
from ..names import name_key
from ..types import Match

if TYPE_CHECKING:  # annotations only: enrollment imports this module
    from .enrollment import Shot


class RefusedShotsError(FaceAppError):
    """Shots too poor to store, or unlike the person's other shots: nothing was stored."""


def poor_face_message(where: str, problems: Sequence[str]) -> str:
    return (f"{where}: the face is {' and '.join(problems)}, too poor to enroll "
            "(a poor template weakens every later match)")


@dataclass(frozen=True)
class Lookalike:
    """Shots of the person being enrolled that already match someone else who is enrolled."""

    name: str
    person_id: int
    shots: tuple[int, ...]  # 1-based numbers of the shots that match
    sources: tuple[str | None, ...]
    distance: float  # the closest of them


def lookalikes(shots: Sequence[Shot], gallery: Gallery | None, threshold: float, name: str) -> list[Lookalike]:
    """Other enrolled people whom these shots match under ``threshold`` (a wrong name typed, or
    the same person enrolled twice), in order of first match."""
    if gallery is None or not len(gallery) or not shots:
        return []
    matches = identify_many(np.stack([s.encoding for s in shots]), gallery, threshold)
    found: dict[int, list[tuple[int, Match, str | None]]] = {}
    for number, (match, shot) in enumerate(zip(matches, shots), 1):
        if match.accepted and match.person_id is not None and name_key(match.name or "") != name_key(name):
            found.setdefault(int(match.person_id), []).append((number, match, shot.source))
    return [
        Lookalike(str(hits[0][1].name), pid, tuple(n for n, _, _ in hits), tuple(s for _, _, s in hits),
                  min(m.distance for _, m, _ in hits))
        for pid, hits in found.items()
    ]


# Encodings this close are one image encoded twice (the encoder is deterministic up to float
# noise); two photos of one person, even a second apart on a camera, lie far further apart.
SAME_FACE_DISTANCE = 1e-3


def same_face_as_any(encoding: np.ndarray, others: Sequence[np.ndarray] | np.ndarray) -> bool:
    """Whether ``encoding`` is the very face of one of ``others`` (the same image encoded again)."""
    if not len(others):
        return False
    return float(np.min(np.linalg.norm(np.asarray(others) - encoding, axis=1))) < SAME_FACE_DISTANCE


def screen_shots(shots: Sequence[Shot], existing: np.ndarray | None = None,
                 threshold: float | None = None, cohort: Cohort | None = None) -> tuple[list[Shot], list[str]]:
    """The shots fit to store, and a message for each one that is not: a face too poor to judge
    (``Shot.problems``); the very face of an ``existing`` template or of an earlier shot; or, with
    ``threshold``, a face unlike the person's other faces (these shots and their ``existing``
    templates): farther than the 1:1 ``threshold`` from the mean of the others (by the distance
    the model's ``cohort`` makes of it, as verify measures it), so it would not even be verified
    as them. The worst such shot goes first and the rest are measured again without it; two
    faces with nothing else to go by that disagree are both refused, as there is no telling
    which is right."""
    refused = [poor_face_message(s.label(n), s.problems) for n, s in enumerate(shots, 1) if s.problems]
    kept = [(n, s) for n, s in enumerate(shots, 1) if not s.problems]
    if not kept:
        return [], refused
    others = np.zeros((0, kept[0][1].encoding.shape[0]), np.float32) if existing is None else np.asarray(existing)
    seen = list(others)
    for n, shot in list(kept):  # the same photo twice (a command run again) would only weigh twice
        if same_face_as_any(shot.encoding, seen):
            kept.remove((n, shot))
            refused.append(f"{shot.label(n)}: the very face of a template already there (the same photo again?), "
                           "not enrolled twice")
        else:
            seen.append(shot.encoding)
    if threshold is None or not kept:
        return [s for _, s in kept], refused
    crowding = {n: cohort.crowding(s.encoding[None])[0] for n, s in kept} if cohort is not None else {}
    while kept:  # every new shot may be refused when the person's templates say otherwise
        faces = np.concatenate([np.stack([s.encoding for _, s in kept]), others])
        if len(faces) < 2:
            break
        total = faces.sum(axis=0)
        distances = []
        for i, (n, shot) in enumerate(kept):
            rest = total - faces[i]
            plain = float(np.linalg.norm(shot.encoding - rest / max(np.linalg.norm(rest), 1e-12)))
            distances.append(float(cohort.adjust(plain, crowding[n])) if cohort is not None else plain)
        worst = int(np.argmax(distances))
        if distances[worst] <= threshold:
            break
        if len(faces) == 2:
            refused += [f"{s.label(n)}: the two faces do not look like one person (distance {distances[0]:.3f} > "
                        f"{threshold:.3f}); neither is enrolled" for n, s in kept]
            kept = []
            break
        number, shot = kept.pop(worst)
        refused.append(f"{shot.label(number)}: does not look like the person's other faces (distance "
                       f"{distances[worst]:.3f} to their mean > {threshold:.3f}), not enrolled: someone else, "
                       "or a poor photo?")
    return [s for _, s in kept], refused
