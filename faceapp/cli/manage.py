"""``faceapp people`` (list, rename, delete, templates, remove-template) and ``faceapp reencode`` (after a model update)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FaceAppError

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from ..store import Store, TemplateInfo

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
        raise CLIError("people needs a subcommand: list, rename, delete, templates or remove-template")
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
        if action == "templates":
            return _people_templates(ctx, store, args)
        if action == "remove-template":
            return _people_remove_template(store, args)
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


def _confirmed(args: argparse.Namespace, prompt: str, refusal: str) -> bool:
    """``--yes``, or a 'y' typed at an interactive terminal (never a guess from a pipe)."""
    if args.yes:
        return True
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise CLIError(f"{refusal}: confirmation needs an interactive terminal; pass --yes")
    print(prompt, end="", file=sys.stderr, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def _people_delete(store: Store, args: argparse.Namespace) -> int:
    info = store.person(args.name)
    prompt = f"Delete {info.name} and its {info.templates} template{'s' if info.templates != 1 else ''}? [y/N] "
    if not _confirmed(args, prompt, f"not deleting {info.name}"):
        out(f"{info.name} was not deleted")
        return EXIT_REJECTED
    removed = store.delete(info.name)
    out(f"deleted {info.name} and {removed} template{'s' if removed != 1 else ''}")
    return EXIT_OK


def _template_state(template: TemplateInfo, model_id: str | None) -> str:
    state = template.state(model_id)
    return "?" if state == "unknown" else state  # no readable model card: cannot say which templates it uses


def _people_templates(ctx: Context, store: Store, args: argparse.Namespace) -> int:
    from ..embed import read_card

    name = store.person(args.name).name
    templates = store.templates(name)
    try:  # JSON only (no torch); without a model the list still shows, states unknown
        model_id: str | None = read_card(ctx.settings.model_path).model_id
    except FaceAppError:
        model_id = None
    if args.json:
        out(json.dumps([{"id": t.id, "model": t.model_id, "state": _template_state(t, model_id), "source": t.source,
                         "quality": t.quality, "created": t.created_at, "crop_kept": t.has_crop} for t in templates],
                       ensure_ascii=False))
        return EXIT_OK
    if not templates:
        out(f"{name} has no templates: enroll them again, or delete them")
        return EXIT_OK
    rows = [(str(t.id), _template_state(t, model_id), t.created_at[:19].replace("T", " "), t.model_id, t.source or "-")
            for t in templates]
    headers = ("ID", "STATE", "CREATED (UTC)", "MODEL", "SOURCE")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
    for row in (headers, *rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return EXIT_OK


def _people_remove_template(store: Store, args: argparse.Namespace) -> int:
    name = store.person(args.name).name
    template = next((t for t in store.templates(name) if t.id == args.template_id), None)
    if template is None:  # checked before asking, so nobody confirms a removal that cannot happen
        raise CLIError(f"{name} has no template {args.template_id}; list theirs with "
                       f"'faceapp people templates \"{name}\"'")
    prompt = f"Remove template {template.id} of {name} ({template.source or 'source unknown'})? [y/N] "
    if not _confirmed(args, prompt, f"not removing template {template.id} of {name}"):
        out(f"template {template.id} of {name} was not removed")
        return EXIT_REJECTED
    left = store.delete_template(name, template.id)
    advice = "" if left else f"; enroll {name} again before verifying them"
    out(f"removed template {template.id} of {name}: {left} template{'s' if left != 1 else ''} left{advice}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# reencode

STALE_NAMES_SHOWN = 20  # a longer list is cut; 'people templates NAME' tells about anyone


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
        left = store.stale_people(encoder.model_id) if report.unreadable or report.without_crop else {}
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
    if left:
        shown = [f"{name} ({count})" for name, count in list(left.items())[:STALE_NAMES_SHOWN]]
        more = f" and {len(left) - len(shown)} more people" if len(left) > len(shown) else ""
        warn(f"templates still made by another model, so not matched, of: {', '.join(shown)}{more}")
    return EXIT_OK
