"""``python -m faceapp.gui [--source SRC] [--db FILE] [--model CARD] [--device D]``: the GUI without the CLI."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import quiet_opencv_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceapp.gui", description="faceapp desktop GUI")
    parser.add_argument("--source", help="camera index, video file, image folder or stream URL")
    parser.add_argument("--db", type=Path, help="the database file")
    parser.add_argument("--model", type=Path, help="the model card (.json)")
    parser.add_argument("--detector-model", type=Path, help="the YuNet .onnx file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_opencv_logs()  # the window says what went wrong with a source
    # The command line's layer of the configuration: only what was given, so saved preferences
    # apply to the rest (as with 'faceapp gui').
    flags = {
        "db": None if args.db is None else str(args.db),
        "model_path": args.model,
        "detector_model": args.detector_model,
        "device": args.device,
    }
    flags = {key: value for key, value in flags.items() if value is not None}
    from ..app import resolve_config
    from ..errors import FaceAppError
    from .app import run_gui

    try:
        return run_gui(resolve_config(flags=flags), args.source, flags=flags)
    except FaceAppError as exc:  # e.g. no display: one clear line, as the CLI gives
        print(f"faceapp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
