"""The leaf facts of configuration: environment variable names and default paths.

The entry points resolve the whole configuration once (``faceapp.app.config.resolve_config``)
and pass plain values down. Nothing here touches the disk at import time; the functions
compute paths when called.
"""

from __future__ import annotations

import os
import sys
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
    the same in words. OpenCV reads its variable when cv2 is imported, which the entry points'
    own imports have done by now, so its level is also set at run time; FFmpeg reads its one
    when the first video opens. A level the user set in the environment wins."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    # SILENT, not ERROR: a damaged TIFF's ERROR lines say what faceapp's one line says, and
    # every OpenCV failure that matters also raises, which faceapp turns into its own message.
    environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2 = sys.modules.get("cv2")
    level = getattr(getattr(getattr(cv2, "utils", None), "logging", None),
                    f"LOG_LEVEL_{environ['OPENCV_LOG_LEVEL'].upper()}", None)
    if level is not None:
        cv2.utils.logging.setLogLevel(level)
