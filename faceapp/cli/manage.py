"""``faceapp people`` (list, rename, delete, templates, remove-template, merge, move-template) and
``faceapp reencode`` (after a model update)."""

from __future__ import annotations

import argparse
import json
import sys

from ..app import Database, TemplateInfo
from ..app.corrections import merge_people, move_template, plan_merge, plan_move
from ..errors import StoreError
from .common import EXIT_OK, EXIT_REJECTED, CLIError, Context, out, warn, warn_stale
from .privacy import cmd_people_export


# ---------------------------------------------------------------------------------------
# people


def cmd_people(ctx: Context, args: argparse.Namespace) -> int:
    action = args.people_command
    if action is None:
        raise CLIError("people needs a subcommand: list, rename, delete, templates, remove-template, merge, "
                       "move-template or export")
    if action == "export":
        return cmd_people_export(ctx, args)
    if action == "list" and not ctx.database_exists():
        out("[]" if args.json else "nobody is enrolled")  # a fresh install: no database yet
        return EXIT_OK
    with ctx.open_database() as db:
        if action == "list":
            return _people_list(ctx, db, args)
        if action == "rename":
            old, new = db.rename(args.old, args.new)  # as stored, not as typed ('john bolton')
            out(f"renamed {old} to {new}")
            return EXIT_OK
        if action == "templates":
            return _people_templates(ctx, db, args)
        if action == "remove-template":
            return _people_remove_template(db, args)
        if action == "merge":
            return _people_merge(db, args)
        if action == "move-template":
            return _people_move_template(db, args)
        return _people_delete(db, args)


def _people_list(ctx: Context, db: Database, args: argparse.Namespace) -> int:
    people = db.people()
    if ctx.config.model_id is not None:  # a missing model card must not block listing
        warn_stale(db, ctx.config.model_id)
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


def _people_delete(db: Database, args: argparse.Namespace) -> int:
    info = db.person(args.name)
    prompt = f"Delete {info.name} and its {info.templates} template{'s' if info.templates != 1 else ''}? [y/N] "
    if not _confirmed(args, prompt, f"not deleting {info.name}"):
        out(f"{info.name} was not deleted")
        return EXIT_REJECTED
    removed = db.delete(info.name)
    out(f"deleted {info.name} and {removed} template{'s' if removed != 1 else ''}")
    return EXIT_OK


def _template_state(template: TemplateInfo, model_id: str | None) -> str:
    state = template.state(model_id)
    return "?" if state == "unknown" else state  # no readable model card: cannot say which templates it uses


def _people_templates(ctx: Context, db: Database, args: argparse.Namespace) -> int:
    name = db.person(args.name).name
    templates = db.templates(name)
    model_id = ctx.config.model_id  # without a readable model card the list still shows, states unknown
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


def _people_remove_template(db: Database, args: argparse.Namespace) -> int:
    name = db.person(args.name).name
    try:  # checked before asking, so nobody confirms a removal that cannot happen
        template = db.template(name, args.template_id)
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    prompt = f"Remove template {template.id} of {name} ({template.source or 'source unknown'})? [y/N] "
    if not _confirmed(args, prompt, f"not removing template {template.id} of {name}"):
        out(f"template {template.id} of {name} was not removed")
        return EXIT_REJECTED
    left = db.remove_template(name, template.id)
    advice = "" if left else f"; enroll {name} again before verifying them"
    out(f"removed template {template.id} of {name}: {left} template{'s' if left != 1 else ''} left{advice}")
    return EXIT_OK


def add_correction_parsers(people: argparse._SubParsersAction, add_global_options) -> None:  # noqa: ANN001
    """``people merge FROM INTO`` and ``people move-template NAME ID OTHER`` (main.py's 'people')."""
    q = people.add_parser("merge", help="merge two entries of one person: FROM's templates and events move to INTO")
    add_global_options(q)
    q.add_argument("source", metavar="FROM", help="the entry that goes")
    q.add_argument("target", metavar="INTO", help="the entry that stays")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q = people.add_parser("move-template", help="move one template (someone else's face) to another person")
    add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("template_id", type=int, metavar="ID", help="as listed by 'people templates NAME'")
    q.add_argument("other", metavar="OTHER", help="the person whose face it is")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _people_merge(db: Database, args: argparse.Namespace) -> int:
    plan = plan_merge(db, args.source, args.target)
    out(plan.describe())  # the direction, said before anything changes, with --yes too
    if not _confirmed(args, "Merge? [y/N] ", f"not merging {plan.source} into {plan.target}"):
        out(f"{plan.source} was not merged")
        return EXIT_REJECTED
    templates, events = merge_people(db, plan)
    out(f"merged {plan.source} into {plan.target}: {templates} template{'s' if templates != 1 else ''} "
        f"and {events} event{'s' if events != 1 else ''} moved")
    return EXIT_OK


def _people_move_template(db: Database, args: argparse.Namespace) -> int:
    try:  # checked before asking, as remove-template does
        plan = plan_move(db, args.name, args.template_id, args.other)
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    out(plan.describe())
    if not _confirmed(args, "Move it? [y/N] ", f"not moving template {plan.template_id}"):
        out(f"template {plan.template_id} was not moved")
        return EXIT_REJECTED
    left = move_template(db, plan)
    out(f"moved template {plan.template_id} to {plan.other}: {plan.owner} has {left} template{'s' if left != 1 else ''} left")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# reencode

STALE_NAMES_SHOWN = 20  # a longer list is cut; 'people templates NAME' tells about anyone


def cmd_reencode(ctx: Context, args: argparse.Namespace) -> int:
    from ..app.maintenance import reencode_database

    outcome = reencode_database(ctx.app)
    report, model_id, left = outcome.report, outcome.model_id, outcome.still_stale
    plural = "s" if report.reencoded != 1 else ""
    if report.reencoded:
        photos = f", {report.from_photos} aligned again from their enrollment photo" if report.from_photos else ""
        out(f"re-encoded {report.reencoded} template{plural} of {report.people} "
            f"{'person' if report.people == 1 else 'people'} for {model_id} "
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
