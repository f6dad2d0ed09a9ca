"""faceapp: local-first face verification (1:1) and recognition (1:N).

The public API is a handful of verbs over numpy arrays, one per pipeline stage::

    image = faceapp.load_image("alice.jpg")              # RGB uint8
    detector = faceapp.load_detector()                   # the shipped YuNet
    faces = detector.detect(image)                       # [Detection(box, landmarks, score)]
    crop = faceapp.align_face(image, faces[0].landmarks) # 112x112 RGB
    encoder = faceapp.load_encoder(model_card_path)      # the shipped tower
    encodings = encoder.embed(crop[None])                # (1, 128) unit vectors
    gallery = store.gallery(encoder.model_id).with_cohort(encoder.cohort)  # judged as the card's thresholds assume
    faceapp.identify(encodings[0], gallery, threshold)   # Match(name, distance, accepted)
    faceapp.reencode_store(store, encoder)               # an earlier model's templates, from kept crops

Applications build on ``faceapp.app`` (the use-cases the CLI and the GUI share) and
``faceapp.open_store`` (a gallery store: people, templates, events).

Names are imported lazily so that ``import faceapp`` stays cheap (no torch, no Qt).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_image": "images",
    "decode_image": "images",
    "load_detector": "detect",
    "align_face": "align",
    "load_encoder": "embed",
    "Encoder": "embed",
    "verify": "match",
    "identify": "match",
    "identify_many": "match",
    "distances": "match",
    "Gallery": "match",
    "open_store": "storage",
    "GalleryStore": "storage",
    "reencode_store": "reencode",
    "open_source": "camera",
    "Pipeline": "pipeline",
    "open_pipeline": "pipeline",
    "AppConfig": "app",
    "resolve_config": "app",
    "Detection": "types",
    "Match": "types",
    "Frame": "types",
    "FrameResult": "types",
    "FaceAppError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'faceapp' has no attribute {name!r}")
