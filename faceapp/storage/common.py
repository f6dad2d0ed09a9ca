"""What every gallery store backend shares: the checks on what is written, the timestamp
format, and how damaged templates are left out of matching.

These are rules of the gallery, not of a database, so a backend calls them instead of
repeating them; two backends that checked encodings differently would accept different data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import numpy as np

from ..errors import StoreError
from ..match import UNIT_TOLERANCE, unit_row_mask

# One logger for the whole storage package, whichever backend warns: users and tests listen
# to one name.
log = logging.getLogger("faceapp.storage")


def now() -> str:
    """ISO-8601 UTC with milliseconds: sortable as text and unambiguous across time zones."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def is_unit_blob(blob: object, dim: object) -> bool:
    """Whether a stored encoding blob holds ``dim`` little-endian float32s of unit length."""
    if not isinstance(blob, bytes) or not isinstance(dim, int) or dim <= 0 or len(blob) != dim * 4:
        return False
    return bool(unit_row_mask(np.frombuffer(blob, dtype="<f4").reshape(1, dim))[0])


def check_encodings(encodings: np.ndarray) -> np.ndarray:
    """Valid encodings as an (N, D) little-endian float32 array, or StoreError saying what is wrong."""
    try:
        arr = np.asarray(encodings)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"encodings must be a numeric (N, D) array ({exc})") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise StoreError(f"encodings must be an (N, D) array, got shape {np.shape(encodings)}")
    if arr.shape[0] == 0:
        raise StoreError("there are no encodings to enroll")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise StoreError(f"encodings must be numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype="<f4")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise StoreError(f"encoding {int(np.argmax(bad)) + 1} of {arr.shape[0]} contains NaN or infinite values")
    norms = np.linalg.norm(arr.astype(np.float64), axis=1)
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise StoreError(f"encoding {i + 1} of {arr.shape[0]} is not L2-normalised (norm {norms[i]:.4g})")
    return arr


def per_row(values: Sequence | None, n: int, what: str) -> list:
    """``values`` as a list with one entry per encoding (all None when not given), or StoreError."""
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise StoreError(f"{what} has {len(values)} entries for {n} encodings")
    return values


def usable_rows(encodings: np.ndarray, model_id: str, where: object,
                owners: Callable[[np.ndarray], list[str]]) -> np.ndarray:
    """The rows matching can use. One damaged row must not stop matching for everyone: it
    is left out (it stays in the database, nothing is deleted) and ``owners(damaged_mask)``
    names whose it is, so they can enroll again. ``where`` names the database in the warning."""
    usable = unit_row_mask(encodings)
    if not usable.all():
        log.warning("%s: %d damaged template(s) of model %s left out of matching, of: %s. "
                    "Their other templates still match; 'faceapp people templates NAME' shows which, "
                    "'faceapp people remove-template NAME ID' removes one",
                    where, int((~usable).sum()), model_id, ", ".join(owners(~usable)))
    return usable


def named_sighting(event_id: int, row: tuple | None) -> str:
    """The name a sighting's (kind, person_id, name, ...) row gave, or StoreError saying why
    it cannot be corrected as "not this person"."""
    if row is None:
        raise StoreError(f"there is no event {event_id}; list them with 'faceapp events list'")
    kind, person_id, name = row[0], row[1], row[2]
    if kind != "identify" or (person_id is None and not name):
        raise StoreError(f"event {event_id} is not a sighting that named someone; only those can be corrected")
    return name or f"person {person_id}"
