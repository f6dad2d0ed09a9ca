"""The few exception types faceapp raises; each carries a message a user can act on."""

from __future__ import annotations


class FaceAppError(Exception):
    """Base class: anything the CLI reports as a clear one-line error (exit code 2)."""


class ImageError(FaceAppError):
    """An image file that is missing, empty, truncated, not an image or unusable."""


class CameraError(FaceAppError):
    """A frame source that cannot be opened or stopped delivering frames."""


class DetectorError(FaceAppError):
    """The face detector model is missing or cannot be loaded."""


class ModelError(FaceAppError):
    """The encoder weights or model card are missing, damaged or do not match."""


class NoFaceError(FaceAppError):
    """No face was found where exactly one was needed."""


class MultipleFacesError(FaceAppError):
    """Several faces were found where exactly one was needed."""


class StoreError(FaceAppError):
    """The database is damaged, locked, or was asked for something it does not hold."""


class UnknownPersonError(StoreError):
    """A name that is not enrolled."""


class NotPermittedError(StoreError):
    """The database role may not do this (a station's role, which only reads and logs)."""


class GalleryOfflineError(StoreError):
    """The server holding a shared gallery cannot be reached just now (it stopped, the network
    went): a station keeps matching against the gallery it holds and keeps its events until
    the server is back."""
