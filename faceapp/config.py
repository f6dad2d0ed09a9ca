"""The leaf facts of configuration: environment variable names and default paths.

The entry points resolve the whole configuration once (``faceapp.app.config.resolve_config``)
and pass plain values down. Nothing here touches the disk at import time; the functions
compute paths when called.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "faceapp"
DETECTOR_ENV = "FACEAPP_DETECTOR_MODEL"
DB_ENV = "FACEAPP_DB"
MODEL_ENV = "FACEAPP_MODEL"
THREADS_ENV = "FACEAPP_THREADS"
STATION_ENV = "FACEAPP_STATION"
ASSETS_DIR_NAME = "assets"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def assets_dir() -> Path:
    """``assets/`` beside the package: the shipped encoder, its card and the YuNet detector."""
    return Path(__file__).resolve().parent.parent / ASSETS_DIR_NAME


def shipped_model_path() -> Path:
    """The model card shipped in ``assets/``."""
    return assets_dir() / "faceapp-encoder.json"


def quiet_opencv_logs(environ: dict[str, str] | None = None) -> None:
    """Keep OpenCV's and FFmpeg's own warnings ("can't open camera by index", "[mov @ 0x...]
    moov atom not found") off stderr, where they come before faceapp's own message saying
    the same in words. Entry points call this before cv2 is first used: both libraries read
    these variables once. A level the user set in the environment wins."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
