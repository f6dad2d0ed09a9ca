"""Re-encoding after a model update, as one use-case for ``faceapp reencode`` and the window's
Re-encode button: templates of other models become the current model's, from their kept face
crops or, failing those, their enrollment photos (which then needs the detector too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..reencode import ReencodeReport, photo_cropper, reencode_store
from .context import AppContext


@dataclass(frozen=True)
class ReencodeOutcome:
    report: ReencodeReport
    model_id: str
    still_stale: dict[str, int]  # people whose templates could not be re-encoded, and how many


def reencode_database(ctx: AppContext, progress: Callable[[int], None] | None = None) -> ReencodeOutcome:
    """Re-encode the configured database's stale templates with the configured model. Opens its
    own database connection, so it can run in a background thread."""
    from ..embed import load_encoder

    config = ctx.config
    config.require_threshold()  # an unreadable model card says so before anything else
    with ctx.open_database(create=False) as db:
        model_id = config.model_id or ""
        if db.stale_report(model_id).photo:  # photos to align again: the detector too
            pipeline = ctx.pipeline()
            encoder, photo_crop = pipeline.encoder, photo_cropper(pipeline)
        else:
            loaded = ctx.loaded
            encoder = loaded.encoder if loaded is not None else load_encoder(config.model_path, config.device,
                                                                             threads=config.threads)
            photo_crop = None
        report = reencode_store(db.store, encoder, progress=progress, photo_crop=photo_crop,
                                keep_crops=config.keep_face_crops)
        left = db.stale_people(encoder.model_id) if report.unreadable or report.without_crop else {}
    return ReencodeOutcome(report, encoder.model_id, left)
