"""Re-encoding enrolled templates with a new model, from the face crops they kept.

A new encoder cannot compare templates made by another one, so shipping a better model
used to mean everyone enrolling again. Templates now keep their aligned crop; this stage
decodes those crops, embeds them with the current encoder and swaps the encodings in,
page by page, each page in one transaction: an interrupted run leaves every template
either old or new, and running it again carries on. Templates enrolled before crops were
kept can still be recovered from the photo they were enrolled from, where it is still on
disk: it is detected and aligned again, and the new crop is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embed import Encoder
from .errors import FaceAppError, ImageError, NoFaceError
from .images import decode_image, encode_lossless, is_image_path, load_image
from .storage import GalleryStore

if TYPE_CHECKING:
    from .pipeline import Pipeline

PAGE_SIZE = 128
PhotoCrop = Callable[[str], np.ndarray]  # a template's source -> its aligned crop, or FaceAppError


@dataclass(frozen=True)
class ReencodeReport:
    reencoded: int  # templates now made by the current model
    people: int  # how many people those belong to
    from_models: tuple[str, ...]  # the models they were made by
    unreadable: int  # kept crops that do not decode to a face crop of the model's size: left as they were
    without_crop: int  # templates still stale: no crop kept and no usable enrollment photo
    from_photos: int = 0  # of ``reencoded``, how many were aligned again from their enrollment photo


@dataclass(frozen=True)
class StaleCounts:
    """What can become of the templates another model made."""

    kept_crop: int  # re-encodable from their kept crop
    photo: int  # re-encodable from their enrollment photo, still on disk
    lost: int  # neither: their people must enroll again
    by_model: dict[str, int] = field(default_factory=dict, compare=False)  # GalleryStore.stale_templates

    @property
    def total(self) -> int:
        return self.kept_crop + self.photo + self.lost

    @property
    def recoverable(self) -> int:
        return self.kept_crop + self.photo


def is_photo_source(source: str) -> bool:
    """Whether a template's source names an image file that still exists (not a camera)."""
    path = Path(source)
    return is_image_path(path) and path.is_file()


def stale_counts(store: GalleryStore, model_id: str, page_size: int = 1024) -> StaleCounts:
    by_model = store.stale_templates(model_id)
    total = sum(by_model.values())
    without_crop = store.stale_without_crop(model_id) if total else 0
    photos, after = 0, 0
    while without_crop and (page := store.stale_sources(model_id, after_id=after, limit=page_size)):
        after = page[-1].template_id
        photos += sum(is_photo_source(s.source) for s in page)
    return StaleCounts(total - without_crop, photos, without_crop - photos, by_model)


def decode_crop(data: bytes, size: int) -> np.ndarray:
    """A kept crop back to (size, size, 3) RGB uint8, or ImageError."""
    crop = decode_image(data, "kept face crop")
    if crop.shape != (size, size, 3):
        raise ImageError(f"kept face crop: {crop.shape[1]}x{crop.shape[0]}, not the model's {size}x{size} input")
    return crop


def photo_cropper(pipeline: Pipeline) -> PhotoCrop:
    """Aligns the largest face of a template's enrollment photo again, with ``pipeline``'s
    detector (enrollment took the only face, or the largest with --largest)."""
    from .align import align_face

    def crop(source: str) -> np.ndarray:
        if not is_photo_source(source):
            raise ImageError(f"{source}: not a photo on disk")
        image = load_image(source)
        faces = pipeline.find_faces(image, still=True)
        if not faces:
            raise NoFaceError(f"{source}: no face found")
        return align_face(image, faces[0].landmarks)

    return crop


def reencode_store(store: GalleryStore, encoder: Encoder, progress: Callable[[int], None] | None = None,
                   page_size: int = PAGE_SIZE, photo_crop: PhotoCrop | None = None,
                   keep_crops: bool = True) -> ReencodeReport:
    """Bring every template that kept its crop up to ``encoder``'s model, then, with
    ``photo_crop``, those that kept none but whose enrollment photo is still there (keeping
    the new crop unless ``keep_crops`` is off). ``progress(done)`` is called after each page."""
    model_id = encoder.model_id
    size = encoder.card.input_size
    people: set[int] = set()
    models: set[str] = set()
    reencoded = 0

    def run(fetch, crop_of, failure: type[Exception], keep: bool) -> tuple[int, int]:
        """One pass over the pages ``fetch(after_id)`` gives: (templates re-encoded, crops that failed)."""
        nonlocal reencoded
        done = failed = after = 0
        while page := fetch(after):
            after = page[-1].template_id
            usable, crops = [], []
            for stored in page:
                try:
                    crops.append(crop_of(stored))
                except failure:
                    failed += 1
                    continue
                usable.append(stored)
            if usable:
                kept = [encode_lossless(c) for c in crops] if keep else None
                changed = store.reencode(model_id, [s.template_id for s in usable], encoder.embed(np.stack(crops)), crops=kept)
                done += changed
                reencoded += changed
                people.update(s.person_id for s in usable)
                models.update(s.model_id for s in usable)
            if progress is not None:
                progress(reencoded)
        return done, failed

    _, unreadable = run(lambda after: store.stale_crops(model_id, after_id=after, limit=page_size),
                        lambda stored: decode_crop(stored.crop, size), ImageError, keep=False)
    from_photos = 0
    if photo_crop is not None:  # gone, unreadable, no face: stays stale, counted as without a crop
        from_photos, _ = run(lambda after: store.stale_sources(model_id, after_id=after, limit=page_size),
                             lambda stored: photo_crop(stored.source), FaceAppError, keep=keep_crops)
    return ReencodeReport(reencoded, len(people), tuple(sorted(models)), unreadable,
                          store.stale_without_crop(model_id), from_photos)
