"""Re-encoding enrolled templates with a new model, from the face crops they kept.

A new encoder cannot compare templates made by another one, so shipping a better model
used to mean everyone enrolling again. Templates now keep their aligned crop; this stage
decodes those crops, embeds them with the current encoder and swaps the encodings in,
page by page, each page in one transaction: an interrupted run leaves every template
either old or new, and running it again carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .embed import Encoder
from .errors import ImageError
from .images import decode_image
from .store import Store

PAGE_SIZE = 128


@dataclass(frozen=True)
class ReencodeReport:
    reencoded: int  # templates now made by the current model
    people: int  # how many people those belong to
    from_models: tuple[str, ...]  # the models they were made by
    unreadable: int  # kept crops that do not decode to a face crop: left as they were
    without_crop: int  # templates enrolled before crops were kept: their people must enroll again


def decode_crop(data: bytes, size: int) -> np.ndarray:
    """A kept crop back to (size, size, 3) RGB uint8, or ImageError."""
    crop = decode_image(data, "kept face crop")
    if crop.shape != (size, size, 3):
        raise ImageError(f"kept face crop: {crop.shape[1]}x{crop.shape[0]}, not the model's {size}x{size} input")
    return crop


def reencode_store(store: Store, encoder: Encoder, progress: Callable[[int], None] | None = None,
                   page_size: int = PAGE_SIZE) -> ReencodeReport:
    """Bring every template that kept its crop up to ``encoder``'s model; ``progress(done)``
    is called after each page."""
    model_id = encoder.model_id
    size = encoder.card.input_size
    people: set[int] = set()
    models: set[str] = set()
    reencoded = unreadable = 0
    after = 0
    while page := store.stale_crops(model_id, after_id=after, limit=page_size):
        after = page[-1].template_id
        usable, crops = [], []
        for stored in page:
            try:
                crops.append(decode_crop(stored.crop, size))
            except ImageError:
                unreadable += 1
                continue
            usable.append(stored)
        if usable:
            reencoded += store.reencode(model_id, [s.template_id for s in usable], encoder.embed(np.stack(crops)))
            people.update(s.person_id for s in usable)
            models.update(s.model_id for s in usable)
        if progress is not None:
            progress(reencoded)
    return ReencodeReport(reencoded, len(people), tuple(sorted(models)), unreadable, store.stale_without_crop(model_id))
