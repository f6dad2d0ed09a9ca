"""``faceapp attendance list [--session NAME]`` and ``faceapp attendance export --session NAME
--csv FILE | --json``: the sessions ``faceapp identify --session`` marked (faceapp.app.attendance)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ..app.attendance import attendance, session_name, sessions, write_attendance_csv
from .common import EXIT_OK, CLIError, Context, out


def add_attendance_parser(sub: argparse.ArgumentParser, add_global_options) -> None:  # noqa: ANN001
    actions = sub.add_subparsers(dest="attendance_command", metavar="ACTION")
    q = actions.add_parser("list", help="the sessions, or who attended one (--session)",
                           description="the sessions, or who attended one (--session)")
    add_global_options(q)
    q.add_argument("--session", metavar="NAME", help="one person a line: name, first seen, last seen, status")
    q.add_argument("--json", action="store_true")
    q = actions.add_parser("export", help="one session's attendance, one person a row, as CSV or JSON",
                           description="one session's attendance, one person a row, as CSV or JSON")
    add_global_options(q)
    q.add_argument("--session", required=True, metavar="NAME")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--csv", metavar="FILE", help="the CSV file to write (never over an existing one)")
    where.add_argument("--json", action="store_true", help="print one JSON list")


def cmd_attendance(ctx: Context, args: argparse.Namespace) -> int:
    action = getattr(args, "attendance_command", None)
    if action is None:
        raise CLIError("attendance needs an action: list or export")
    if args.session is not None:
        session_name(args.session)  # a bad name says so before the database is opened
    if not ctx.database_exists():
        if action == "export":
            raise CLIError(f"{ctx.config.db}: there is no database yet, so no session")
        out("[]" if args.json else "no sessions: there is no database yet")
        return EXIT_OK
    with ctx.open_database() as db:
        if args.session is None:
            return _print_sessions(sessions(db), args.json)
        rows = attendance(db, args.session)
        if action == "export" and args.csv:
            n = write_attendance_csv(rows, Path(args.csv))
            out(f"wrote {n} {'person' if n == 1 else 'people'} of {session_name(args.session)} to {args.csv}")
            return EXIT_OK
    if args.json:
        out(json.dumps([asdict(r) for r in rows], ensure_ascii=False))
        return EXIT_OK
    _table(("NAME", "FIRST SEEN (UTC)", "LAST SEEN (UTC)", "STATUS"),
           [(r.name, _time(r.first_seen), _time(r.last_seen), r.status) for r in rows])
    return EXIT_OK


def _time(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _print_sessions(found: list, as_json: bool) -> int:
    if as_json:
        out(json.dumps([asdict(s) for s in found], ensure_ascii=False))
    elif not found:
        out("no sessions yet: identify with --session NAME")
    else:
        _table(("SESSION", "PEOPLE", "FROM (UTC)", "TO (UTC)"),
               [(s.name, str(s.people), _time(s.first_seen), _time(s.last_seen)) for s in found])
    return EXIT_OK


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in (headers, *rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
