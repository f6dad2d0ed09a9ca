"""What a gallery store hands back and logs: plain frozen records and the event kinds, the same
whatever the backend, so front ends never depend on which database holds the gallery."""

from __future__ import annotations

from dataclasses import dataclass

# The decisions the event log records; log_event refuses any other kind.
EVENT_KINDS = ("verify", "identify", "enroll")


@dataclass(frozen=True)
class StoredCrop:
    """A template made by another model, with the face crop it was made from."""

    template_id: int
    person_id: int
    model_id: str
    crop: bytes


@dataclass(frozen=True)
class StoredSource:
    """A template made by another model that kept no crop, with where it was enrolled from
    (a photo's path, or a camera's description)."""

    template_id: int
    person_id: int
    model_id: str
    source: str


@dataclass(frozen=True)
class PersonInfo:
    """One enrolled person as listed to the user; ``templates`` counts all models."""

    id: int
    name: str
    templates: int
    created_at: str
    has_thumbnail: bool


@dataclass(frozen=True)
class TemplateInfo:
    """One stored template as listed to the user, so a bad one can be found and removed.

    ``source`` is the photo's path or the camera's description ("" when unknown); ``damaged``
    says the encoding is not a unit vector of its stated size (matching leaves it out).
    """

    id: int
    model_id: str
    source: str
    quality: float | None
    created_at: str
    has_crop: bool
    damaged: bool

    def state(self, model_id: str | None) -> str:
        """'damaged', 'in use' or 'other model' for the encoder ``model_id``; 'unknown' without one."""
        if self.damaged:
            return "damaged"
        if model_id is None:
            return "unknown"
        return "in use" if self.model_id == model_id else "other model"
