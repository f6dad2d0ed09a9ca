"""Settings: plain values read at entry points (CLI, GUI) and passed down.

Nothing here touches the disk at import time; ``default_*`` functions compute paths when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

APP_NAME = "faceapp"
DETECTOR_ENV = "FACEAPP_DETECTOR_MODEL"
DB_ENV = "FACEAPP_DB"
MODEL_ENV = "FACEAPP_MODEL"
THREADS_ENV = "FACEAPP_THREADS"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


def default_db_path() -> Path:
    return Path(os.environ.get(DB_ENV) or default_data_dir() / "faceapp.db")


def default_model_path() -> Path:
    """The shipped model card (``assets/faceapp-encoder.json``) unless FACEAPP_MODEL says otherwise."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return Path(__file__).resolve().parent.parent / "assets" / "faceapp-encoder.json"


def default_threads() -> int | None:
    """FACEAPP_THREADS as a positive int, or None (one thread per core). A bad value is ignored
    here and reported where the entry point validates it."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def quiet_opencv_logs(environ: dict[str, str] | None = None) -> None:
    """Keep OpenCV's and FFmpeg's own warnings ("can't open camera by index", "[mov @ 0x...]
    moov atom not found") off stderr, where they come before faceapp's own message saying
    the same in words. Entry points call this before cv2 is first used: both libraries read
    these variables once. A level the user set in the environment wins."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass(frozen=True)
class Settings:
    """Everything an entry point decides; the core receives it, never reads env vars itself."""

    db_path: Path
    model_path: Path
    detector_model: Path | None = None  # None: environment, cache, then download
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    threshold: float | None = None  # None: the model card's default threshold
    detection_score: float = 0.6
    max_detect_side: int = 640  # frames are downscaled to this before detection, for speed
    threads: int | None = None  # CPU threads for detection and the encoder; None: one per core

    @classmethod
    def defaults(cls, **overrides) -> "Settings":
        base = cls(db_path=default_db_path(), model_path=default_model_path(), threads=default_threads())
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
