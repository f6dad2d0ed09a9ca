"""Face data at rest from the command line: ``faceapp db encrypt`` / ``db decrypt``,
``faceapp events purge --older-than 30d`` and ``faceapp people export NAME OUT.zip``.
The rules are the application layer's (faceapp.app.privacy); this module parses and prints."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..app.person_export import export_person
from ..app.privacy import decrypt_database, encrypt_database, parse_period, purge_older_than
from ..types import table_counts
from .common import EXIT_OK, CLIError, Context, out


def add_no_arguments(parser: argparse.ArgumentParser) -> None:
    """db encrypt and db decrypt work on --db, with the key from the environment or keyring."""


def cmd_db_encrypt(ctx: Context, args: argparse.Namespace) -> int:
    done = encrypt_database(ctx.config)
    where = ("the system keyring" if done.key_in == "keyring"
             else f"{done.key_in}: keep it safe, the database cannot be opened without it")
    out(f"encrypted {done.path} ({table_counts(done.rows)}); its key is in {where}")
    return EXIT_OK


def cmd_db_decrypt(ctx: Context, args: argparse.Namespace) -> int:
    done = decrypt_database(ctx.config)
    out(f"decrypted {done.path} ({table_counts(done.rows)}); it is plain SQLite again")
    return EXIT_OK


def add_events_parser(sub: argparse.ArgumentParser, add_global_options) -> argparse._SubParsersAction:  # noqa: ANN001
    """``faceapp events purge --older-than PERIOD``; returns the actions, for faceapp.cli.events to add to."""
    actions = sub.add_subparsers(dest="events_command", metavar="ACTION")
    q = actions.add_parser("purge", help="erase the events older than a period, leaving no copy in the file",
                           description="erase the events older than a period, leaving no copy in the file")
    add_global_options(q)
    q.add_argument("--older-than", required=True, metavar="PERIOD", help="e.g. 30d (days), 12h (hours), 2w (weeks)")
    return actions


def cmd_events(ctx: Context, args: argparse.Namespace) -> int:
    if getattr(args, "events_command", None) is None:
        raise CLIError("events needs an action: purge")
    age = parse_period(args.older_than)  # a bad period says so before the database is opened
    if not ctx.database_exists():
        out("no events: there is no database yet")
        return EXIT_OK
    with ctx.open_database() as db:
        gone = purge_older_than(db, age)
    out(f"erased {gone} event{'s' if gone != 1 else ''} older than {args.older_than.strip()}")
    return EXIT_OK


def cmd_people_export(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.open_database() as db:
        done = export_person(db, args.name, Path(args.out))
    out(f"exported {done.name} to {done.path}: {done.templates} template{'s' if done.templates != 1 else ''}, "
        f"{done.crops} face crop{'s' if done.crops != 1 else ''}, {done.events} event{'s' if done.events != 1 else ''}")
    return EXIT_OK
