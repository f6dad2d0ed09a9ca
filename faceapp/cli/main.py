"""The entry point: argument parsing, settings from the command line, dispatch and exit codes."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from ..app import AppContext, resolve_config
from ..config import quiet_opencv_logs
from ..errors import FaceAppError

from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    GLOBAL_VALUE_OPTIONS,
    PROG,
    CLIError,
    Context,
    json_line,
    logging_to_stderr,
)
from .attendance import add_attendance_parser, cmd_attendance
from .unknowns import add_unknowns_parser, cmd_unknowns
from .db import add_db_parser, cmd_db
from .enroll import cmd_enroll, cmd_import
from .evaluate import cmd_evaluate
from .manage import add_correction_parsers, cmd_people, cmd_reencode
from .events import add_events_parser, cmd_events
from .recognise import cmd_identify, cmd_verify


# ---------------------------------------------------------------------------------------
# gui and train


def cmd_gui(ctx: Context, args: argparse.Namespace) -> int:
    try:
        from ..gui.app import run_gui
    except ImportError as exc:
        raise FaceAppError(
            f"the GUI is not available ({exc}); install faceapp with PySide6, or use the subcommands "
            f"(see '{PROG} --help')"
        ) from None
    return int(run_gui(ctx.config, getattr(args, "source", None), flags=ctx.flags) or 0)


def _run_training(argv: list[str]) -> int:
    try:
        from training.__main__ import main as training_main
    except ImportError as exc:
        raise FaceAppError(f"the training package is not available ({exc}); run from a source checkout") from None
    return int(training_main(argv) or 0)


# ---------------------------------------------------------------------------------------
# Argument parsing


class _IntermixedParser(argparse.ArgumentParser):
    """A subcommand parser that takes options between positionals ('enroll NAME --largest
    PHOTO', 'verify NAME --json PHOTO'): plain argparse stops filling positionals at the first
    option, leaving the rest as 'unrecognized arguments'."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        # parse_known_intermixed_args calls back into parse_known_args, and cannot handle
        # a parser with its own subcommands (e.g. 'people'): plain parsing for those.
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _frame_limit(text: str) -> int:
    """--max-frames: a whole number, 0 (no limit) or more; a usage error (exit 2) otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, got {value}")
    return value


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options (before or after the subcommand)")
    S = argparse.SUPPRESS
    # A str, not a Path: Path would fold a URL's '//' into '/'.
    group.add_argument("--db", default=S, metavar="FILE|URL",
                       help="the database: a SQLite file (default: in the user data folder) or a PostgreSQL URL "
                            "(postgresql://user@host/dbname) that several stations share")
    group.add_argument("--station", default=S, metavar="NAME",
                       help="this station's name, recorded with every event (default: $FACEAPP_STATION, else the host name)")
    group.add_argument("--model", type=Path, default=S, metavar="CARD.json", help="encoder model card (default: the shipped model)")
    group.add_argument("--detector-model", type=Path, default=S, metavar="ONNX", help="YuNet face detector .onnx file")
    group.add_argument("--device", choices=("cpu", "cuda", "auto"), default=S, help="where the encoder runs (default auto)")
    group.add_argument("--threshold", type=float, default=S, metavar="FLOAT", help="accept distances up to this (overrides the card)")
    group.add_argument("--far", default=S, metavar="LEVEL", help="use the card's threshold for this false-accept rate, e.g. 0.001")
    group.add_argument("--threads", type=int, default=S, metavar="N",
                       help="CPU threads for detection and the encoder (default: $FACEAPP_THREADS, else one per core)")
    group.add_argument("-v", "--verbose", action="count", default=S, help="more messages (repeat for debug)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Local face verification (1:1) and recognition (1:N). Without a subcommand, opens the GUI.",
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_IntermixedParser)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_global_options(p)
        return p

    p = add("enroll", "enroll a person from photos (each must show exactly one face) and/or a camera")
    p.add_argument("name", metavar="NAME")
    p.add_argument("paths", nargs="*", default=[], metavar="PATH", help="image files or folders of images")
    p.add_argument("--largest", action="store_true", help="use the largest face of photos that show several")
    p.add_argument("--camera", metavar="SRC", help="also take shots from a camera index, stream URL or video file")
    p.add_argument("--shots", type=int, default=5, metavar="N", help="how many camera shots (default 5)")

    p = add("verify", "is this NAME? exit 0 accepted, 1 rejected, 2 error")
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", nargs="?", metavar="PATH", help="a photo")
    p.add_argument("--camera", metavar="SRC", help="verify from a live source instead of a photo")
    p.add_argument("--frames", type=int, default=5, metavar="N", help="agreeing frames needed with --camera (default 5)")
    p.add_argument("--window", type=int, metavar="W", help="...among the last W frames with a face (default N + 2)")
    p.add_argument("--largest", action="store_true", help="use the largest face of a photo that shows several")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("identify", "who is in these photos / this video? (JSON lines with --json)")
    p.add_argument("path", nargs="?", metavar="PATH", help="an image, a folder of images or a video file")
    p.add_argument("--camera", metavar="SRC", help="a camera index, stream URL, video file or folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p.add_argument("--max-frames", type=_frame_limit, default=0, metavar="N",
                   help="stop after N frames of a video, camera, stream or folder (a folder's first N images); "
                        "0, the default, means no limit")
    p.add_argument("--fpir", metavar="LEVEL", help="the card's open-set level: the share of strangers who may get a "
                                                   "name, e.g. 0.01 (default: the card's)")
    p.add_argument("--margin", type=float, metavar="DIST", help="how much nearer the best person must be than the "
                                                                "next one (default: the card's)")
    p.add_argument("--tracks", action="store_true", help="after a video or live source, one line per track: "
                                                          "first and last frame, name or null, frames of evidence")
    p.add_argument("--no-tracking", action="store_true", help="decide every frame's faces alone, without tracks")
    p.add_argument("--session", metavar="NAME", help='an attendance session, e.g. "Lecture 5": each person who '
                                                   "arrives is marked once (see 'faceapp attendance')")
    p.add_argument("--remember-unknowns", action="store_true", help="keep the best face of each Unknown track (or "
                   "photo), grouped into anonymous people (see 'faceapp unknowns')")

    p = add("import", "bulk-enroll a folder of per-person subfolders (resumable)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--largest", action="store_true", help="use the largest face of photos that show several")
    p.add_argument("--underscores-as-spaces", action="store_true",
                   help="name people from folders like Ada_Lovelace as 'Ada Lovelace' (as data sets such as LFW name them)")

    p = add("people", "list, rename, delete or merge enrolled people, or list, remove and move their templates")
    people = p.add_subparsers(dest="people_command", metavar="ACTION")
    q = people.add_parser("list", help="everyone enrolled")
    _add_global_options(q)
    q.add_argument("--json", action="store_true")
    q = people.add_parser("rename", help="rename a person")
    _add_global_options(q)
    q.add_argument("old", metavar="OLD")
    q.add_argument("new", metavar="NEW")
    q = people.add_parser("delete", help="delete a person and their templates")
    _add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q = people.add_parser("templates", help="a person's templates: id, model, state, source")
    _add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("--json", action="store_true")
    q = people.add_parser("remove-template", help="remove one template (a poor photo, a damaged row) by its id")
    _add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("template_id", type=int, metavar="ID", help="as listed by 'people templates NAME'")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q = people.add_parser("export", help="a person's own data (templates' metadata, crops, thumbnail, events) as a zip")
    _add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("out", metavar="OUT.zip", help="the zip to write (never over an existing file)")
    add_correction_parsers(people, _add_global_options)

    add_events_parser(add("events", "the event log: list it, export it as CSV, or purge the events older than a period"),
                      _add_global_options)

    add_attendance_parser(add("attendance", "attendance sessions ('identify --session'): list them, or export one"),
                          _add_global_options)

    add_unknowns_parser(add("unknowns", "faces that stayed Unknown ('identify --remember-unknowns'): list, name, forget"),
                        _add_global_options)

    add_db_parser(add, _add_global_options)

    add("reencode", "re-encode templates of an earlier model with the current one, from their kept face crops or enrollment photos")

    p = add("evaluate", "accuracy on an LFW-format pairs file (10-fold), ROC, TAR at FAR; or the open-set curve of a folder")
    p.add_argument("--pairs", metavar="FILE", help="LFW-format pairs file (with --images)")
    p.add_argument("--images", metavar="DIR", help="folder of <Name>/<Name>_0001.jpg images")
    p.add_argument("--open-set", metavar="DIR",
                   help="folder of gallery/<person>/, probe/<person>/ and unknown/ images: rank-1 at 90/95/99%% of unknown faces rejected")
    p.add_argument("--degrade-to", type=float, metavar="PX",
                   help="first shrink each image so its face is PX pixels wide, then enlarge it back (a distant webcam)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--roc", metavar="FILE", help="write the ROC curve as .csv (far,tar,threshold) or .png (pairs only)")

    add("train", "train or export the encoder (same as 'python -m training ...')")

    p = add("gui", "open the app window")
    p.add_argument("--source", metavar="SRC", help="camera index, stream URL, video file or folder to start with")
    return parser


def _split_train(argv: list[str]) -> list[str] | None:
    """The arguments after 'train' when that is the subcommand (passed through untouched)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in GLOBAL_VALUE_OPTIONS:
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        return argv[i + 1 :] if token == "train" else None
    return None


def _station(name: str | None) -> str | None:
    """--station, cleaned; a usage error when it is blank or has control characters."""
    if name is None:
        return None
    cleaned = " ".join(name.split())
    if not cleaned or any(not ch.isprintable() for ch in cleaned) or len(cleaned) > 100:
        raise CLIError(f"--station must be a printable name of at most 100 characters, got {name!r}")
    return cleaned


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's layer of the configuration: the global options it was given, checked."""
    threshold = getattr(args, "threshold", None)
    far = getattr(args, "far", None)
    if threshold is not None and far is not None:
        raise CLIError("give --threshold or --far, not both")
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        raise CLIError(f"--threshold must be a number >= 0, got {threshold}")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise CLIError(f"--threads must be at least 1, got {threads}")
    db = getattr(args, "db", None)
    flags = {
        "db": None if db is None else str(db),
        "model_path": getattr(args, "model", None),
        "detector_model": getattr(args, "detector_model", None),
        "device": getattr(args, "device", None),
        "threshold_override": threshold,
        "far_level": far,
        "fpir_level": getattr(args, "fpir", None),
        "min_margin": getattr(args, "margin", None),
        "threads": threads,
        "station": _station(getattr(args, "station", None)),
        "remember_unknowns": getattr(args, "remember_unknowns", None) or None,
    }
    return {key: value for key, value in flags.items() if value is not None}


COMMANDS = {
    "enroll": cmd_enroll,
    "verify": cmd_verify,
    "identify": cmd_identify,
    "import": cmd_import,
    "people": cmd_people,
    "db": cmd_db,
    "events": cmd_events,
    "attendance": cmd_attendance,
    "unknowns": cmd_unknowns,
    "reencode": cmd_reencode,
    "evaluate": cmd_evaluate,
    "gui": cmd_gui,
}


def _error_json(args: argparse.Namespace | None, message: str) -> None:
    """With --json, 'verify' and 'identify' answer a failed run with one JSON object on stdout
    too, so a script always has something to parse (the one-line message still goes to stderr)."""
    if args is None or not getattr(args, "json", False):
        return
    if args.command == "verify":
        json_line({"name": args.name, "error": message})
    elif args.command == "identify":
        json_line({"path": args.path or args.camera, "error": message})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    try:
        train_args = _split_train(argv)
        if train_args is not None:
            return _run_training(train_args)
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_ERROR
        verbose = getattr(args, "verbose", 0) or 0
        if verbose < 2:  # -vv (debug) shows OpenCV's and FFmpeg's own messages too
            quiet_opencv_logs()
        with logging_to_stderr(verbose):
            flags = _flags(args)
            ctx = Context(AppContext(resolve_config(flags=flags)), verbose, flags)
            return COMMANDS[args.command or "gui"](ctx, args)
    except FaceAppError as exc:
        message = " ".join(str(exc).splitlines()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        _error_json(args, message)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. 'faceapp identify ... | head': stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
