"""What the stores give back about remembered unknown faces (see GalleryStore.remember_unknown)."""

from __future__ import annotations

from dataclasses import dataclass


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
