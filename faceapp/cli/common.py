"""What every subcommand shares: output and logging helpers, the Context (the application
context and verbosity), the stale-template warning and the listing of image paths."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..app import AppConfig, AppContext, Database
from ..errors import FaceAppError, ImageError

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from ..pipeline import Pipeline

PROG = "faceapp"
EXIT_OK, EXIT_REJECTED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# Global options: name -> add_argument keywords (added to the main parser and every
# subparser, with SUPPRESS defaults so they work before or after the subcommand).
GLOBAL_VALUE_OPTIONS = ("--db", "--model", "--detector-model", "--device", "--threshold", "--far", "--threads",
                        "--station")


class CLIError(FaceAppError):
    """A usage problem found by a subcommand (bad path, conflicting options, ...)."""


# ---------------------------------------------------------------------------------------
# Output helpers


def out(text: str = "") -> None:
    print(text, file=sys.stdout, flush=True)


def err(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def warn(text: str) -> None:
    err(f"warning: {text}")


def json_line(obj: Any) -> None:
    out(json.dumps(obj, ensure_ascii=False))


def distance_or_none(value: float) -> float | None:
    """JSON has no infinity: an empty gallery's distance (inf) is written as null."""
    return round(float(value), 6) if math.isfinite(value) else None


def fmt_distance(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "-"


class _StderrHandler(logging.Handler):
    """Writes log records to whatever ``sys.stderr`` is *now* (tests swap it between calls)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


@contextmanager
def logging_to_stderr(verbose: int) -> Iterator[None]:
    """faceapp's log records on stderr for the duration of one command.

    The handler is removed again afterwards and propagation is left alone, so calling
    ``main()`` from a program (or a test) leaves its logging configuration as it was.
    """
    logger = logging.getLogger("faceapp")
    handler = _StderrHandler()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


# ---------------------------------------------------------------------------------------
# The context every subcommand gets: the application context plus the verbosity.


@dataclass
class Context:
    app: AppContext
    verbose: int = 0
    flags: dict[str, Any] = field(default_factory=dict)  # the command line's configuration layer (the GUI re-resolves with it)

    @property
    def config(self) -> AppConfig:
        return self.app.config

    @property
    def threshold(self) -> float:
        return self.app.threshold

    def pipeline(self) -> Pipeline:
        """Detector + encoder, loaded on first use (this is what imports torch)."""
        first = self.app.loaded is None
        pipeline = self.app.pipeline()
        detector = pipeline.detector
        if first and getattr(detector, "quality", "high") != "high":
            warn(f"using the {detector.name} face detector: fewer faces found, rougher alignment")
        return pipeline

    def open_database(self, create: bool = False) -> Database:
        return self.app.open_database(create=create)

    def database_exists(self) -> bool:
        return self.app.database_exists()


def warn_stale(db: Database, model_id: str) -> None:
    counts = db.stale_report(model_id)
    if counts.total:
        total = counts.total
        models = ", ".join(sorted(counts.by_model))
        if counts.recoverable:
            todo = (f"run 'faceapp reencode' for the {counts.recoverable} that kept their face crop "
                    "or whose enrollment photo is still on disk")
            if counts.lost:
                todo += f"; the other {counts.lost} need their people enrolled again"
        else:
            todo = "enroll those people again (or run 'faceapp import')"
        warn(
            f"{total} template{'s were' if total != 1 else ' was'} in {db.location} made by another model "
            f"({models}) and {'are' if total != 1 else 'is'} not used for matching: {todo}"
        )


# ---------------------------------------------------------------------------------------
# Shared pieces


def folder_images(folder: Path) -> list[Path]:
    """The images directly in ``folder``, sorted; CLIError when it cannot be read or holds none."""
    from ..images import list_images

    try:
        images = list_images(folder)
    except OSError as exc:
        raise CLIError(f"{folder}: cannot read the folder ({exc.strerror or exc})") from None
    if not images:
        raise CLIError(f"{folder}: the folder holds no images")
    return images


def collect_image_paths(paths: Sequence[str]) -> list[Path]:
    """Image files named directly or found in the given folders, in order, without repeats."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(folder_images(path))
        elif path.exists():
            found.append(path)  # load_image says clearly what is wrong with a non-image
        else:
            raise ImageError(f"{path}: no such file")
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def face_json(face) -> dict:
    return {
        "box": face.detection.int_box(),
        "name": face.match.name,
        "distance": distance_or_none(face.match.distance),
    }
