"""The int8 first pass that keeps 1:N matching fast on large galleries, and stays exact.

Scoring a query against a million 128-D float32 templates reads 512 MB. An int8 copy of the
templates is a quarter of that, and numkong's SIMD kernels score it with exact integer dot
products. Rounding to int8 moves each score by at most a bound worked out below, so a row whose
int8 score falls more than two bounds (plus float32's own rounding) short of the best int8
score cannot be the nearest template. Only the few rows inside that window, the *shortlist*,
are scored again in float32 by ``faceapp.match``: the answer is the one a float32 scan over
every row gives, never an approximation of it.

The bound. With ``g`` a gallery row, ``G = round(s g)`` its int8 copy (one scale ``s`` for the
whole gallery) and ``e = g - G/s``, and likewise ``q``, ``Q = round(r q)``, ``d = q - Q/r`` for a
query (its own scale ``r``), the int8 score ``Q.G / (r s)`` equals ``q.g - q.e - d.g + d.e``, so
it is off by at most ``|q| E + |d| |g| + |d| E`` where ``E`` is the largest ``|e|`` over the
gallery (Cauchy-Schwarz; ``|q|``, ``|g|`` are 1 within ``UNIT_TOLERANCE``).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

# Below this many rows the float32 scan is already quick and cache-resident; the int8 copy and
# its second pass would only add work (benchmarks/bench_identify.py times both).
MIN_ROWS = 65_536
# Rows per shard when a large gallery is split to score on several cores at once.
SHARD_ROWS = 131_072
# Queries scored per int8 pass: numkong's packed kernel scores this many in about the time of one.
QUERY_BLOCK = 8
# Rows quantised per step while building: the float temporaries stay in the core's cache.
_BUILD_CHUNK = 4_096
# Float32 rounding of a 128-term dot product of unit vectors stays far below this; it is added on
# both sides of the window so a row the float32 scan could pick is never left out.
_FLOAT32_SLACK = 1e-5
_UNIT_SLACK = 1.001  # |q| and |g| may exceed 1 by UNIT_TOLERANCE (faceapp.match)

T = TypeVar("T")
R = TypeVar("R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _executor() -> ThreadPoolExecutor:
    """One pool for the whole process, a thread per core but the caller's: a gallery has at
    most one shard per core, and the calling thread scores the first."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _cores() - 1), thread_name_prefix="faceapp-int8")
        return _pool


def _quantise_queries(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q, D) int8 queries, each row's scale, and each row's rounding error |q - Q/r|."""
    q = queries.astype(np.float64)
    peak = np.max(np.abs(q), axis=1)
    scale = 127.0 / np.where(peak > 0, peak, 1.0)
    rounded = np.rint(q * scale[:, None])
    error = np.linalg.norm(q - rounded / scale[:, None], axis=1)
    return rounded.astype(np.int8), scale, error


def _map(function: Callable[[T], R], items: list[T]) -> list[R]:
    """``[function(item) for item in items]``, the items after the first on the pool's threads."""
    if len(items) == 1:
        return [function(items[0])]
    pending = [_executor().submit(function, item) for item in items[1:]]
    return [function(items[0])] + [p.result() for p in pending]


def _pack(rows: np.ndarray, scale: float) -> tuple[Any, float]:
    """``round(scale * rows)`` as int8, packed for numkong, and the largest row's rounding
    error in int8 units (the L2 norm of ``scale * row - int8 row``)."""
    import numkong

    int8 = np.empty(rows.shape, np.int8)
    chunk = np.empty((min(_BUILD_CHUNK, rows.shape[0]), rows.shape[1]), np.float32)
    worst = 0.0
    for at in range(0, rows.shape[0], _BUILD_CHUNK):
        n = min(_BUILD_CHUNK, rows.shape[0] - at)
        x = chunk[:n]
        np.multiply(rows[at : at + n], np.float32(scale), out=x)
        np.rint(x, out=int8[at : at + n], casting="unsafe")
        x -= int8[at : at + n]
        worst = max(worst, float(np.max(np.einsum("ij,ij->i", x, x))))
    return numkong.dots_pack(int8), math.sqrt(worst)


@dataclass(frozen=True, eq=False)
class Scores:
    """Int8 scores of a block of queries against every row, kept per shard (no concatenation)."""

    parts: tuple[np.ndarray, ...]  # (Q, shard rows) int32 each
    offsets: tuple[int, ...]  # each shard's first row
    windows: np.ndarray  # (Q,) int64: how far below the best score a winner may still lie

    def best(self, i: int, rows_allowed: np.ndarray | None = None) -> int:
        """Query ``i``'s highest int8 score, over the rows where ``rows_allowed`` is True."""
        best = np.iinfo(np.int64).min
        for part, start in zip(self.parts, self.offsets):
            row = part[i]
            if rows_allowed is not None:
                row = row[rows_allowed[start : start + row.shape[0]]]
            if row.size:
                best = max(best, int(row.max()))
        return best

    def at(self, i: int, rows: np.ndarray) -> np.ndarray:
        """Query ``i``'s int8 scores of the given rows."""
        out = np.empty(rows.shape[0], np.int64)
        for part, start in zip(self.parts, self.offsets):
            inside = (rows >= start) & (rows < start + part.shape[1])
            out[inside] = part[i][rows[inside] - start]
        return out

    def shortlist(self, i: int, best: int) -> np.ndarray:
        """Ascending rows that may hold query ``i``'s float32 winner, given the best int8 score
        among the rows it may come from (the caller filters the list to those rows)."""
        floor = best - int(self.windows[i])
        found = [np.flatnonzero(part[i] >= floor) + start for part, start in zip(self.parts, self.offsets)]
        return np.concatenate(found)


class Int8Shortlist:
    """An int8 copy of a gallery's (M, D) unit float32 rows, packed for numkong, in shards."""

    def __init__(self, encodings: np.ndarray) -> None:
        import numkong

        self._numkong = numkong
        rows, dim = encodings.shape
        peak = 0.0
        for at in range(0, rows, _BUILD_CHUNK):  # in chunks: np.abs of the whole would copy it
            block = encodings[at : at + _BUILD_CHUNK]
            peak = max(peak, float(block.max()), -float(block.min()))
        self.scale = 127.0 / (peak if peak > 0 else 1.0)
        shard_count = max(1, min(_cores(), rows // SHARD_ROWS))
        bounds = np.linspace(0, rows, shard_count + 1).astype(int)
        self.offsets = tuple(int(b) for b in bounds[:-1])
        # One shard per core, quantised side by side as they will be scored.
        built = _map(lambda span: _pack(encodings[span[0] : span[1]], self.scale), list(zip(bounds[:-1], bounds[1:])))
        self.shards = tuple(packed for packed, _ in built)
        # E in the module docstring; float32 arithmetic in _pack is off by far less than the slack.
        self.max_row_error = max(worst for _, worst in built) / self.scale + _FLOAT32_SLACK
        self.nbytes = sum(int(p.nbytes) for p in self.shards)

    def score(self, queries: np.ndarray) -> Scores:
        """Int8 scores of (Q, D) unit float32 queries against every row (Q <= QUERY_BLOCK is one
        pass), with each query's window in integer units."""
        q8, q_scale, q_error = _quantise_queries(queries)
        e = self.max_row_error
        bound = _UNIT_SLACK * (e + q_error) + q_error * e
        windows = np.ceil((2 * bound + 2 * _FLOAT32_SLACK) * self.scale * q_scale).astype(np.int64)
        dots_packed = self._numkong.dots_packed
        parts = [np.asarray(scores) for scores in _map(lambda shard: dots_packed(q8, shard), list(self.shards))]
        return Scores(tuple(parts), self.offsets, windows)

    def search(self, encodings: np.ndarray, queries: np.ndarray,
               person_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For each (Q, D) query, the row a float32 scan of ``encodings`` (the rows this copy was
        made from) finds nearest and, when ``person_ids`` is given, the nearest row of any other
        person (-1 where there is none); without ``person_ids`` the second array is all -1.

        Equal float32 scores go to the lower row, as ``np.argmax`` over every row gives them.
        """
        best = np.full(queries.shape[0], -1, np.int64)
        second = np.full(queries.shape[0], -1, np.int64)
        for start in range(0, queries.shape[0], QUERY_BLOCK):
            block = queries[start : start + QUERY_BLOCK]
            scores = self.score(block)
            for i, query in enumerate(block):
                top = scores.best(i)
                listed = scores.shortlist(i, top)
                best[start + i] = _rerank(encodings, listed, query)
                if person_ids is not None:
                    second[start + i] = _runner_up(encodings, person_ids, scores, i, query,
                                                   int(person_ids[best[start + i]]), listed)
        return best, second


def _rerank(encodings: np.ndarray, rows: np.ndarray, query: np.ndarray) -> int:
    """The float32 winner among ascending ``rows``."""
    if rows.size > encodings.shape[0] // 4:  # a window that wide (near-copies of one face): scan all
        return int(np.argmax(encodings @ query))
    return int(rows[np.argmax(encodings[rows] @ query)])


def _runner_up(encodings: np.ndarray, person_ids: np.ndarray, scores: Scores, i: int,
               query: np.ndarray, owner: int, listed: np.ndarray) -> int:
    """The float32 winner among the rows of everyone but ``owner``, -1 if nobody else is there.

    ``listed`` is the winner's shortlist: every row outside it scores lower in int8 than every row
    inside, so if it holds another person's row, the best int8 score among others is in it.
    """
    others = listed[person_ids[listed] != owner]
    if others.size:
        top = int(scores.at(i, others).max())
    else:
        top = scores.best(i, person_ids != owner)
        if top == np.iinfo(np.int64).min:
            return -1
    rows = scores.shortlist(i, top)
    rows = rows[person_ids[rows] != owner]
    if rows.size > encodings.shape[0] // 4:
        dots = encodings @ query
        dots[person_ids == owner] = -np.inf
        return int(np.argmax(dots))
    return int(rows[np.argmax(encodings[rows] @ query)])
