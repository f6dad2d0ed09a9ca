"""Comparing encodings: 1:1 verification and 1:N identification against a gallery.

Pure numpy. A face is compared with each enrolled *person*, not with each of their templates:
a person is the L2-normalised mean of their templates (:attr:`Gallery.people`). Taking the
nearest of a person's K templates instead gives every stranger K chances to fall within the
threshold, and the mean of several shots is a steadier picture of a face than any one of them;
on in-the-wild photos the mean names more people at the same share of strangers rejected
(README, "Naming faces").

Encodings are L2-normalised float32 rows, so the Euclidean distance follows from one dot
product: ``|q - g|^2 = 2 - 2 q.g``. The nearest person is therefore the one with the largest
dot product, and only the winner's distance needs a square root. A small gallery is one
matrix-vector product; a large one is first scored through an int8 copy, and only the rows
that can still win are scored again in float32 (``faceapp.shortlist``): the answer is the
float32 one either way.

Where the gallery carries the encoder's :class:`~faceapp.cohort.Cohort` (``with_cohort``), every
distance from a face being judged to a person is the cohort-adjusted one the card's thresholds
were calibrated on: a face that lies close to many people must come closer to be named.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .cohort import Cohort
from .errors import UnknownPersonError
from .shortlist import MIN_ROWS, Int8Shortlist
from .types import Match

# How far a row's norm may drift from 1 and still count as an L2-normalised encoding.
# float32 normalisation is good to ~1e-6; anything worse means the vector was never
# normalised, and the 2 - 2 q.g shortcut would then give wrong distances silently.
UNIT_TOLERANCE = 1e-3


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so a Gallery cannot be changed behind its back (no copy)."""
    view = array.view()
    view.flags.writeable = False
    return view


def _row_norms(rows: np.ndarray) -> np.ndarray:
    """Each row's L2 norm (inf, not a warning, for garbage that overflows), summed in the rows'
    own precision: float32 is far inside UNIT_TOLERANCE, and needs no float64 copy of a gallery."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.einsum("ij,ij->i", rows, rows).astype(np.float64))


def unit_row_mask(rows: np.ndarray) -> np.ndarray:
    """Which rows are finite and L2-normalised: the ones matching can use."""
    norms = _row_norms(rows)
    return np.isfinite(norms) & (np.abs(norms - 1.0) <= UNIT_TOLERANCE)


def _check_unit_rows(rows: np.ndarray, what: str) -> None:
    if rows.size == 0:
        return
    norms = _row_norms(rows)
    # A finite norm means finite values, so the element-wise check runs only when one is not.
    if not np.isfinite(norms).all() and not np.isfinite(rows).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    worst = float(np.max(np.abs(norms - 1.0)))
    if worst > UNIT_TOLERANCE:
        raise ValueError(
            f"{what} must be L2-normalised (a row has norm {1.0 + worst:.4g} or "
            f"{1.0 - worst:.4g}, not 1)"
        )


@dataclass(frozen=True, eq=False)
class Gallery:
    """Every template of one model, flattened into one matrix for fast matching.

    ``encodings`` is (M, D) float32 with unit rows, ``person_ids`` (M,) int64 says whose
    each row is, ``names`` maps person id -> name and ``model_id`` names the encoder that
    made the rows (encodings of different models are not comparable). The arrays are
    converted to contiguous float32/int64 once here and exposed read-only, so matching
    never copies the gallery. Matching uses :attr:`people` (one row per person), made here once:
    the snapshot never changes. From ``MIN_ROWS`` people on, that gallery holds an int8 copy (a
    quarter of the float32 bytes) for the first pass of every 1:N search.

    ``cohort`` (None: distances are plain) adjusts each face's distances as its module says; the
    application layer attaches the encoder's with :meth:`with_cohort`, storage never sees it.
    """

    encodings: np.ndarray
    person_ids: np.ndarray
    names: Mapping[int, str]
    model_id: str
    cohort: Cohort | None = field(default=None, kw_only=True, repr=False)
    _shortlist: Int8Shortlist | None = field(default=None, init=False, repr=False)
    _people: Gallery | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        enc = np.asarray(self.encodings)
        if enc.ndim != 2:
            raise ValueError(f"gallery encodings must be a 2-D (M, D) array, got shape {enc.shape}")
        if enc.shape[1] < 1 and enc.shape[0] > 0:
            raise ValueError("gallery encodings need at least one dimension")
        if not (np.issubdtype(enc.dtype, np.floating) or np.issubdtype(enc.dtype, np.integer)):
            raise ValueError(f"gallery encodings must be numeric, got dtype {enc.dtype}")
        enc = np.ascontiguousarray(enc, dtype=np.float32)
        ids = np.asarray(self.person_ids)
        if ids.size == 0:
            ids = ids.astype(np.int64)
        if ids.ndim != 1 or ids.shape[0] != enc.shape[0]:
            raise ValueError(
                f"gallery person_ids must have shape ({enc.shape[0]},) to match the encodings, "
                f"got {ids.shape}"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"gallery person_ids must be integers, got dtype {ids.dtype}")
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ValueError("a gallery needs the model_id of the encoder that made it")
        _check_unit_rows(enc, "gallery encodings")
        if self.cohort is not None and enc.shape[1] and self.cohort.dim != enc.shape[1]:
            raise ValueError(f"the cohort has {self.cohort.dim} dimensions but the gallery has {enc.shape[1]}")
        names = MappingProxyType({int(k): str(v) for k, v in self.names.items()})
        # One id per run of equal ids: every id, without sorting a million (stores group them).
        runs = ids[np.r_[True, ids[1:] != ids[:-1]]] if ids.size else ids
        missing = set(runs.tolist()) - set(names)
        if missing:
            raise ValueError(f"gallery names lack person ids {sorted(missing)[:5]}")
        object.__setattr__(self, "encodings", _readonly(enc))
        object.__setattr__(self, "person_ids", _readonly(ids))
        object.__setattr__(self, "names", names)
        one_row_each = ids.size == runs.size and np.unique(runs).size == runs.size
        if one_row_each:  # already one row per person: it is its own people gallery
            object.__setattr__(self, "_people", self)
            object.__setattr__(self, "_shortlist", Int8Shortlist(enc) if enc.shape[0] >= MIN_ROWS else None)
        else:  # made as the gallery loads, so no frame waits for them
            object.__setattr__(self, "_people", person_means(self))

    @classmethod
    def empty(cls, dim: int, model_id: str) -> Gallery:
        """A gallery with nobody in it (identify answers 'unknown').

        ``dim`` 0 means "not known yet" (no template of this model was ever stored): such
        a gallery accepts queries of any dimension.
        """
        return cls(
            encodings=np.empty((0, dim), np.float32),
            person_ids=np.empty((0,), np.int64),
            names={},
            model_id=model_id,
        )

    def with_cohort(self, cohort: Cohort | None) -> Gallery:
        """This snapshot judged with ``cohort``: the same arrays, means and int8 copy, shared
        (no copy, nothing recomputed), only the distances it reports change."""
        if cohort is not None and self.dim and cohort.dim != self.dim:
            raise ValueError(f"the cohort has {cohort.dim} dimensions but the gallery has {self.dim}")
        twin = copy.copy(self)
        object.__setattr__(twin, "cohort", cohort)
        object.__setattr__(twin, "_people", twin if self._people is self else self.people.with_cohort(cohort))
        return twin

    def adjusted(self, distances: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """(Q, ...) distances from (Q, D) unit ``queries``, as the thresholds mean them: lengthened
        for a crowded query where the gallery has a cohort, unchanged otherwise."""
        if self.cohort is None:
            return np.asarray(distances, dtype=np.float64)
        crowding = self.cohort.crowding(queries)
        shape = (-1,) + (1,) * (np.ndim(distances) - 1)
        return self.cohort.adjust(distances, crowding.reshape(shape))

    @property
    def dim(self) -> int:
        return int(self.encodings.shape[1])

    def __len__(self) -> int:
        return int(self.encodings.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes the gallery's arrays hold in memory: float32 rows, person ids, the int8 copy,
        and the per-person means where people have several templates."""
        extra = self._shortlist.nbytes if self._shortlist is not None else 0
        if self._people is not self:  # the means matching uses
            extra += self.people.nbytes
        return int(self.encodings.nbytes + self.person_ids.nbytes + extra)

    def for_person(self, person_id: int) -> np.ndarray:
        """The (K, D) templates of one person; K is 0 when they have none in this gallery."""
        return self.encodings[self.person_ids == int(person_id)]

    @property
    def people(self) -> Gallery:
        """The gallery matching uses: one row per person, the L2-normalised mean of their
        templates, made once as this snapshot was."""
        return self._people  # type: ignore[return-value]  # never None once __post_init__ has run


def person_means(gallery: Gallery) -> Gallery:
    """One row per person of ``gallery``: the mean of their templates, L2-normalised. A mean
    too short to normalise (templates pointing opposite ways, which no encoder produces for
    one face) falls back to the person's first template."""
    ids = gallery.person_ids
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ids.size else np.empty(0, np.int64)
    sums = np.add.reduceat(gallery.encodings[order], starts, axis=0) if ids.size else gallery.encodings[:0]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    degenerate = norms[:, 0] < 1e-6
    sums[degenerate] = gallery.encodings[order[starts[degenerate]]]
    norms[degenerate] = 1.0
    people = ordered[starts]
    return Gallery(sums / norms, people, {int(i): gallery.names[int(i)] for i in people}, gallery.model_id,
                   cohort=gallery.cohort)


def _one_query(query: np.ndarray, dim: int) -> np.ndarray:
    """The (D,) float32 query of a 1-query call; several faces go through identify_many."""
    q, single = _as_queries(query, dim)
    if not single and q.shape[0] != 1:
        raise ValueError(f"expected one query encoding, got {q.shape[0]}; use identify_many for several")
    return q[0]


def _as_queries(queries: np.ndarray, dim: int, what: str = "query") -> tuple[np.ndarray, bool]:
    """(Q, D) float32 view of one (D,) or several (Q, D) queries, and whether it was one.

    ``dim`` 0 skips the dimension check (an empty gallery of unknown dimension).
    """
    q = np.asarray(queries)
    single = q.ndim == 1
    if single:
        q = q[None, :]
    if q.ndim != 2:
        raise ValueError(f"a {what} must be a (D,) vector or a (Q, D) array, got shape {np.shape(queries)}")
    if dim and q.shape[1] != dim:
        raise ValueError(
            f"{what} has {q.shape[1]} dimensions but the gallery has {dim}: "
            "it was probably made by a different model"
        )
    q = np.ascontiguousarray(q, dtype=np.float32)
    _check_unit_rows(q, f"{what} encodings")
    return q, single


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if math.isnan(t) or t < 0:
        raise ValueError(f"the distance threshold must be a number >= 0, got {threshold!r}")
    return t


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two unit vectors, from a float64 dot product.

    Only ever called for the winner, after the float32 search: recomputing in float64
    makes verify, identify and identify_many report bit-identical distances for the same
    pair, whatever BLAS kernel produced the search scores.
    """
    dot = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    return math.sqrt(max(0.0, 2.0 - 2.0 * dot))


def distances(queries: np.ndarray, encodings: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit query rows and unit gallery rows.

    Computed as sqrt(max(0, 2 - 2 q.g)) from one float32 matrix product; returns (Q, M),
    or (M,) for a single (D,) query. The clamp absorbs rounding for identical vectors.
    """
    g = np.asarray(encodings)
    if g.ndim != 2:
        raise ValueError(f"encodings must be a 2-D (M, D) array, got shape {g.shape}")
    g = np.ascontiguousarray(g, dtype=np.float32)
    _check_unit_rows(g, "gallery encodings")
    q, single = _as_queries(queries, g.shape[1])
    dots = q @ g.T
    out = np.sqrt(np.maximum(np.float32(0.0), np.float32(2.0) - np.float32(2.0) * dots))
    return out[0] if single else out


def verify(query: np.ndarray, gallery: Gallery, person_id: int, threshold: float) -> Match:
    """1:1 — is ``query`` the claimed person? Compared with the mean of their templates.

    The Match keeps the claimed name whatever the decision, so the caller can say
    "not Alice" rather than "nobody".
    """
    t = _check_threshold(threshold)
    q = _one_query(query, gallery.dim)
    pid = int(person_id)
    rows = gallery.people.for_person(pid)
    if rows.shape[0] == 0:
        who = repr(gallery.names[pid]) if pid in gallery.names else f"person id {pid}"
        raise UnknownPersonError(
            f"{who} has no templates for model {gallery.model_id!r}; enroll them first"
        )
    distance = _judged_distance(gallery, rows[0], q)
    return Match(name=gallery.names[pid], distance=distance, accepted=distance <= t, person_id=pid)


def _best_rows(q: np.ndarray, gallery: Gallery) -> np.ndarray:
    """The nearest template's row for each (Q, D) query: the argmax of a float32 scan."""
    if gallery._shortlist is not None:
        return gallery._shortlist.search(gallery.encodings, q)[0]
    if q.shape[0] == 1:  # one matrix-vector product
        return np.array([np.argmax(gallery.encodings @ q[0])])
    return np.argmax(q @ gallery.encodings.T, axis=1)


def _judged_distance(gallery: Gallery, row: np.ndarray, query: np.ndarray) -> float:
    """:func:`_distance` from ``query`` to one of ``gallery``'s rows, as its thresholds mean it."""
    return float(gallery.adjusted(np.array([_distance(row, query)]), query[None, :])[0])


def _decide(gallery: Gallery, index: int, query: np.ndarray, threshold: float) -> Match:
    distance = _judged_distance(gallery, gallery.encodings[index], query)
    if distance <= threshold:
        pid = int(gallery.person_ids[index])
        return Match(name=gallery.names[pid], distance=distance, accepted=True, person_id=pid)
    return Match(name=None, distance=distance, accepted=False, person_id=None)


def identify(query: np.ndarray, gallery: Gallery, threshold: float) -> Match:
    """1:N — who is ``query``? The nearest person if within ``threshold``.

    Above the threshold the answer is "unknown" (name and person_id None) but the
    nearest distance is still reported; an empty gallery gives distance inf.
    """
    t = _check_threshold(threshold)
    q = _one_query(query, gallery.dim)
    if len(gallery) == 0:
        return Match(name=None, distance=math.inf, accepted=False)
    people = gallery.people
    return _decide(people, int(_best_rows(q[None, :], people)[0]), q, t)


def identify_many(queries: np.ndarray, gallery: Gallery, threshold: float) -> list[Match]:
    """identify() for every row of (Q, D) ``queries`` (several faces in one frame) in one product."""
    t = _check_threshold(threshold)
    q, _ = _as_queries(queries, gallery.dim)
    if len(gallery) == 0:
        return [Match(name=None, distance=math.inf, accepted=False) for _ in range(q.shape[0])]
    if q.shape[0] == 0:
        return []
    people = gallery.people
    return [_decide(people, int(b), q[i], t) for i, b in enumerate(_best_rows(q, people))]


def best_two_people(queries: np.ndarray, gallery: Gallery) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each of (Q, D) ``queries``: the nearest person's row of ``gallery.people`` and their
    distance, and the row and distance of the next nearest person (the runner-up, for the
    open-set margin in ``faceapp.decide``). A gallery of one person has no runner-up: its row
    is -1 and its distance inf. An empty gallery gives -1 and inf for both.

    Distances are the float64 ones :func:`identify` reports, so both agree for the same pair.
    """
    q, _ = _as_queries(queries, gallery.dim)
    gallery = gallery.people
    count = q.shape[0]
    best_row = np.full(count, -1, np.int64)
    second_row = np.full(count, -1, np.int64)
    best_d = np.full(count, np.inf)
    second_d = np.full(count, np.inf)
    if len(gallery) == 0 or count == 0:
        return best_row, best_d, second_row, second_d
    if gallery._shortlist is not None:
        best_row[:], second_row[:] = gallery._shortlist.search(gallery.encodings, q, gallery.person_ids)
        has_other = second_row >= 0
    else:
        dots = q @ gallery.encodings.T
        best_row[:] = np.argmax(dots, axis=1)
        owners = gallery.person_ids[best_row]
        # The runner-up is the best row once the winner's is ruled out.
        others = np.where(gallery.person_ids[None, :] == owners[:, None], -np.inf, dots)
        candidate = np.argmax(others, axis=1)
        has_other = np.isfinite(others[np.arange(count), candidate])
        second_row[has_other] = candidate[has_other]
    for i in range(count):
        best_d[i] = _distance(gallery.encodings[best_row[i]], q[i])
        if has_other[i]:
            second_d[i] = _distance(gallery.encodings[second_row[i]], q[i])
    adjusted = gallery.adjusted(np.stack([best_d, second_d], axis=1), q)
    return best_row, adjusted[:, 0], second_row, adjusted[:, 1]
