"""What the stores give back about remembered unknown faces (see GalleryStore.remember_unknown)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import StoreError


@dataclass(frozen=True)
class UnknownGroupInfo:
    """One anonymous person: a group of sightings of a face nobody enrolled."""

    id: int
    sightings: int
    first_seen: str  # ISO-8601 UTC, as events' times
    last_seen: str
    sources: tuple[str, ...]  # where it was seen (cameras, files), each once, oldest first


@dataclass(frozen=True)
class UnknownFace:
    """One kept sighting of an unknown group: its encoding and best crop, to enroll from."""

    id: int
    model_id: str
    encoding: bytes  # little-endian float32
    crop: bytes | None
    source: str | None


def group_infos(rows: list) -> list[UnknownGroupInfo]:
    """One UnknownGroupInfo per group of stored sightings (group_id, at, source), by group id."""
    found: dict[int, dict] = {}
    for group_id, at, source in rows:
        group = found.setdefault(int(group_id), {"n": 0, "first": at, "last": at, "sources": []})
        group["n"] += 1
        group["first"], group["last"] = min(group["first"], at), max(group["last"], at)
        if source and source not in group["sources"]:
            group["sources"].append(source)
    return [UnknownGroupInfo(i, g["n"], g["first"], g["last"], tuple(g["sources"])) for i, g in sorted(found.items())]


def no_such_group(group_id: int) -> StoreError:
    return StoreError(f"there is no unknown {int(group_id)}; list them with 'faceapp unknowns list'")


def sighting_encodings(rows: list) -> tuple[np.ndarray, np.ndarray]:
    """Group ids and encodings of stored rows (group_id, dim, encoding bytes), one dimension."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    dim = int(rows[0][1])
    rows = [r for r in rows if int(r[1]) == dim and r[2] is not None and len(r[2]) == dim * 4]
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    return ids, np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), dim).astype(np.float32)
