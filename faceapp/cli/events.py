"""``faceapp events list``, ``faceapp events export --csv FILE`` and ``faceapp events
not-this-person EVENT_ID`` (``events purge`` is in :mod:`.privacy`). The filters and the CSV are the application layer's (faceapp.app.events)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..app.corrections import not_this_person
from ..app.events import check_kind, export_events, list_events, parse_since
from . import privacy
from .common import EXIT_OK, EXIT_REJECTED, CLIError, Context, out
from .manage import _confirmed


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN",
                        help="only events from then on: a period back from now (7d, 12h, 2w) or a date (2026-12-01)")
    parser.add_argument("--person", metavar="NAME", help="only this person's events (also under a former name)")
    parser.add_argument("--kind", metavar="KIND", help="only this kind: verify, identify, enroll or correct")


def add_events_parser(sub: argparse.ArgumentParser, add_global_options) -> None:  # noqa: ANN001
    """``faceapp events list | export | purge`` (main.py adds the 'events' command)."""
    actions = privacy.add_events_parser(sub, add_global_options)
    q = actions.add_parser("list", help="the newest events first", description="the newest events first")
    add_global_options(q)
    _add_filters(q)
    q.add_argument("--limit", type=int, default=100, metavar="N", help="at most N events (default 100)")
    q.add_argument("--json", action="store_true", help="one JSON list")
    q = actions.add_parser("export", help="every matching event, oldest first, into a new CSV file",
                           description="every matching event, oldest first, into a new CSV file")
    add_global_options(q)
    _add_filters(q)
    q.add_argument("--csv", required=True, metavar="FILE", help="the CSV file to write (never over an existing one)")
    q = actions.add_parser("not-this-person", help="correct a sighting that named the wrong person",
                           description="correct a sighting (an identify event) that named the wrong person: "
                                       "it names nobody from then on, and the correction is logged")
    add_global_options(q)
    q.add_argument("event_id", type=int, metavar="EVENT_ID", help="as listed by 'events list --json'")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_events(ctx: Context, args: argparse.Namespace) -> int:
    action = getattr(args, "events_command", None)
    if action is None:
        raise CLIError("events needs an action: list, export, not-this-person or purge")
    if action == "purge":
        return privacy.cmd_events(ctx, args)
    if action == "not-this-person":
        return _not_this_person(ctx, args)
    since = None if args.since is None else parse_since(args.since)  # a bad filter says so before opening
    check_kind(args.kind)
    if not ctx.database_exists():
        out("[]" if getattr(args, "json", False) else "no events: there is no database yet")
        return EXIT_OK
    with ctx.open_database() as db:
        if action == "export":
            n = export_events(db, Path(args.csv), since=since, person=args.person, kind=args.kind)
            out(f"wrote {n} event{'s' if n != 1 else ''} to {args.csv}")
            return EXIT_OK
        events = list_events(db, since=since, person=args.person, kind=args.kind, limit=args.limit)
    if args.json:
        out(json.dumps(events, ensure_ascii=False))
    elif not events:
        out("no events match")
    else:
        _print_table(events)
    return EXIT_OK


def _not_this_person(ctx: Context, args: argparse.Namespace) -> int:
    if not ctx.database_exists():
        raise CLIError(f"there is no event {args.event_id}: there is no database yet")
    # Asked, never announced as done: whether the event is a sighting that names someone is
    # known only once the store has looked.
    prompt = f"Correct event {args.event_id} as not the person it named? [y/N] "
    if not _confirmed(args, prompt, f"not correcting event {args.event_id}"):
        out(f"event {args.event_id} was not corrected")
        return EXIT_REJECTED
    with ctx.open_database() as db:
        name = not_this_person(db, args.event_id)
    out(f"corrected event {args.event_id}: not {name}")
    return EXIT_OK


def _print_table(events: list[dict]) -> None:
    rows = [(e["at"][:19].replace("T", " "), e["kind"], e["name"] or "-", e["decision"] or "-",
             "-" if e["distance"] is None else f"{e['distance']:.4f}", e["station"] or "-", e["source"] or "-")
            for e in events]
    headers = ("AT (UTC)", "KIND", "NAME", "DECISION", "DISTANCE", "STATION", "SOURCE")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
    for row in (headers, *rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
