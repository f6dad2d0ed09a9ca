"""``python -m training prepare|pack|train|export|quality|cohort ...``: the steps that rebuild the shipped model."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"prepare": "training.prepare", "pack": "training.pack", "train": "training.train", "export": "training.export", "quality": "training.quality_head", "cohort": "training.cohort"}
    if not argv or argv[0] not in commands:
        print("usage: python -m training {prepare,pack,train,export,quality,cohort} ...  (each takes --help)", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
