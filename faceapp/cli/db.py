"""``faceapp db ACTION``: work on the database itself rather than the people in it.

Each action is one entry of ``ACTIONS``: its help text, a function that adds its arguments to
its subparser, and the function that runs it. Actions come with the issues that need them
(PostgreSQL: init, copy, migrate; privacy: encrypt, decrypt).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .common import CLIError, Context
from .privacy import add_no_arguments, cmd_db_decrypt, cmd_db_encrypt
from .stores import (
    add_copy_arguments,
    add_init_arguments,
    add_migrate_arguments,
    cmd_db_copy,
    cmd_db_init,
    cmd_db_migrate,
)


@dataclass(frozen=True)
class DbAction:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context, argparse.Namespace], int]


ACTIONS: dict[str, DbAction] = {
    "encrypt": DbAction("encrypt the SQLite database in place (SQLCipher); the key: $FACEAPP_DB_KEY, "
                        "else a new one kept in the system keyring", add_no_arguments, cmd_db_encrypt),
    "decrypt": DbAction("write an encrypted database back as plain SQLite", add_no_arguments, cmd_db_decrypt),
    "init": DbAction("make the gallery at --db; on a PostgreSQL server also its administrator and station roles",
                     add_init_arguments, cmd_db_init),
    "copy": DbAction("copy people, templates, crops, events and remembered unknown faces from SRC into an empty "
                     "DST (SQLite files or PostgreSQL URLs) and check the counts", add_copy_arguments, cmd_db_copy),
    "migrate": DbAction("upgrade the schema of the gallery at --db to this faceapp's", add_migrate_arguments,
                        cmd_db_migrate),
}


def add_db_parser(add: Callable[[str, str], argparse.ArgumentParser],
                  add_global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``faceapp db`` and one subparser per action (``add`` makes a subcommand parser)."""
    parser = add("db", "work on the database itself: " + ", ".join(ACTIONS) if ACTIONS else "work on the database itself")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION")
    for name, action in ACTIONS.items():
        sub = actions.add_parser(name, help=action.help, description=action.help)
        add_global_options(sub)
        action.add_arguments(sub)


def cmd_db(ctx: Context, args: argparse.Namespace) -> int:
    name = getattr(args, "db_command", None)
    if name is None:
        raise CLIError(f"db needs an action: {', '.join(ACTIONS) or '(none yet)'}")
    return ACTIONS[name].run(ctx, args)
