"""``faceapp unknowns list [--json] | name ID NAME | forget ID``: the anonymous people that
``faceapp identify --remember-unknowns`` kept (faceapp.app.unknowns)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..app.unknowns import forget_unknown, list_unknowns, name_unknown, naming_doubt
from ..errors import ModelError
from .common import EXIT_OK, EXIT_REJECTED, CLIError, Context, out
from .manage import _confirmed


def add_unknowns_parser(sub: argparse.ArgumentParser, add_global_options) -> None:  # noqa: ANN001
    actions = sub.add_subparsers(dest="unknowns_command", metavar="ACTION")
    q = actions.add_parser("list", help="each unknown: id, sightings, first and last seen, sources",
                           description="each unknown: id, sightings, first and last seen, sources")
    add_global_options(q)
    q.add_argument("--json", action="store_true", help="print one JSON list")
    q = actions.add_parser("name", help="enroll an unknown's faces as NAME (a new person, or added to one)",
                           description="enroll an unknown's faces as NAME (a new person, or added to one)")
    add_global_options(q)
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--yes", action="store_true",
                   help="add the faces to someone enrolled even when they look unlike that person's faces")
    q = actions.add_parser("forget", help="erase an unknown and every face kept of it",
                           description="erase an unknown and every face kept of it")
    add_global_options(q)
    q.add_argument("id", type=int, metavar="ID")


def cmd_unknowns(ctx: Context, args: argparse.Namespace) -> int:
    action = getattr(args, "unknowns_command", None)
    if action is None:
        raise CLIError("unknowns needs an action: list, name or forget")
    if not ctx.database_exists():
        if action == "list":
            out("[]" if args.json else "no unknowns: there is no database yet")
            return EXIT_OK
        raise CLIError(f"{ctx.config.db}: there is no database yet, so no unknown {args.id}")
    with ctx.open_database() as db:
        if action == "list":
            groups = list_unknowns(db)
            if args.json:
                out(json.dumps([asdict(g) | {"sources": list(g.sources)} for g in groups], ensure_ascii=False))
            elif not groups:
                out("no unknowns remembered")
            for g in groups if not args.json else ():
                times = "time" if g.sightings == 1 else "times"
                out(f"Unknown {g.id}: seen {g.sightings} {times}, first {g.first_seen}, last {g.last_seen}"
                    f" at {', '.join(g.sources) or 'an unnamed source'}")
        elif action == "name":
            model_id = ctx.config.model_id
            if model_id is None:
                raise ModelError(ctx.config.card_error or "no model card was read")
            doubt = naming_doubt(db, args.id, args.name, model_id, ctx.config.require_threshold(),
                                 ctx.pipeline().cohort) if db.has_person(args.name) else None
            if doubt and not _confirmed(args, f"{doubt}. Add them anyway? [y/N] ", f"{doubt}; nothing was added"):
                out(f"unknown {args.id} was not named")
                return EXIT_REJECTED
            named = name_unknown(db, args.id, args.name, model_id)
            how = "enrolled as a new person" if named.new_person else "added to"
            out(f"unknown {args.id} {how} {named.name}: {named.faces} face{'s' if named.faces != 1 else ''}")
        else:
            gone = forget_unknown(db, args.id)
            out(f"forgot unknown {args.id}: {gone} face{'s' if gone != 1 else ''} erased")
    return EXIT_OK
