"""``faceapp people`` (list, rename, delete) and ``faceapp reencode`` (after a model update)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FaceAppError

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from ..store import Store

from .common import (
    EXIT_OK,
    EXIT_REJECTED,
    CLIError,
    Context,
    open_existing_store,
    out,
    warn,
    warn_stale,
)


# ---------------------------------------------------------------------------------------
# people


def cmd_people(ctx: Context, args: argparse.Namespace) -> int:
    action = args.people_command
    if action is None:
        raise CLIError("people needs a subcommand: list, rename or delete")
    if action == "list" and not Path(ctx.settings.db_path).expanduser().exists():
        out("[]" if args.json else "nobody is enrolled")  # a fresh install: no database yet
        return EXIT_OK
    with open_existing_store(ctx) as store:
        if action == "list":
            return _people_list(ctx, store, args)
        if action == "rename":
            old = store.person(args.old).name  # as stored, not as typed ('john bolton')
            store.rename(args.old, args.new)
            out(f"renamed {old} to {store.person(args.new).name}")
            return EXIT_OK
        return _people_delete(store, args)


def _people_list(ctx: Context, store: Store, args: argparse.Namespace) -> int:
    from ..embed import read_card

    people = store.people()
    try:  # reading the card is JSON only (no torch); a missing model must not block listing
        warn_stale(store, read_card(ctx.settings.model_path).model_id)
    except FaceAppError:
        pass
    if args.json:
        out(json.dumps([{"name": p.name, "templates": p.templates, "created": p.created_at} for p in people], ensure_ascii=False))
        return EXIT_OK
    if not people:
        out("nobody is enrolled")
        return EXIT_OK
    width = max(4, max(len(p.name) for p in people))
    out(f"{'NAME':<{width}}  TEMPLATES  CREATED")
    for p in people:
        out(f"{p.name:<{width}}  {p.templates:>9}  {p.created_at}")
    return EXIT_OK


def _people_delete(store: Store, args: argparse.Namespace) -> int:
    info = store.person(args.name)
    if not args.yes:
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            raise CLIError(f"not deleting {info.name}: confirmation needs an interactive terminal; pass --yes")
        prompt = f"Delete {info.name} and its {info.templates} template{'s' if info.templates != 1 else ''}? [y/N] "
        print(prompt, end="", file=sys.stderr, flush=True)
        answer = stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            out(f"{info.name} was not deleted")
            return EXIT_REJECTED
    removed = store.delete(info.name)
    out(f"deleted {info.name} and {removed} template{'s' if removed != 1 else ''}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# reencode


def cmd_reencode(ctx: Context, args: argparse.Namespace) -> int:
    from ..embed import load_encoder, read_card
    from ..reencode import photo_cropper, reencode_store, stale_counts

    with open_existing_store(ctx) as store:
        if stale_counts(store, read_card(ctx.settings.model_path).model_id).photo:  # photos to align again: the detector too
            pipeline = ctx.pipeline()
            encoder, photo_crop = pipeline.encoder, photo_cropper(pipeline)
        else:
            encoder, photo_crop = load_encoder(ctx.settings.model_path, ctx.settings.device, threads=ctx.settings.threads), None
        report = reencode_store(store, encoder, photo_crop=photo_crop)
    plural = "s" if report.reencoded != 1 else ""
    if report.reencoded:
        photos = f", {report.from_photos} aligned again from their enrollment photo" if report.from_photos else ""
        out(f"re-encoded {report.reencoded} template{plural} of {report.people} "
            f"{'person' if report.people == 1 else 'people'} for {encoder.model_id} "
            f"(made by {', '.join(report.from_models)}{photos})")
    else:
        out("nothing to re-encode: no template of another model kept a face crop or a photo on disk")
    if report.unreadable:
        warn(f"{report.unreadable} kept crop{'s' if report.unreadable != 1 else ''} could not be used (damaged, or not "
             "this model's input size); their templates were left as they were")
    if report.without_crop:
        warn(f"{report.without_crop} template{'s' if report.without_crop != 1 else ''} of other models kept no "
             "face crop and could not be aligned again from an enrollment photo: enroll those people again")
    return EXIT_OK
