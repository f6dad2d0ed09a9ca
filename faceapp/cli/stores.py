"""``faceapp db init | copy | migrate`` from the command line: the rules are the application
layer's (faceapp.app.stores); this module parses, asks for passwords and prints."""

from __future__ import annotations

import argparse
import getpass
import os

from ..app.privacy import key_for
from ..app.stores import DEFAULT_ADMIN_ROLE, DEFAULT_STATION_ROLE, copy_database, init_database, migrate_database
from ..types import table_counts
from .common import EXIT_OK, CLIError, Context, err, out, warn

# Set these to give the roles passwords without a prompt (a script, a container); a password
# on the command line would show in the process list.
PASSWORD_ENVS = {"admin": "FACEAPP_ADMIN_PASSWORD", "station": "FACEAPP_STATION_PASSWORD"}


def add_init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-role", default=DEFAULT_ADMIN_ROLE, metavar="NAME",
                        help=f"the administrator's role: enrolls, deletes, reads face crops (default {DEFAULT_ADMIN_ROLE})")
    parser.add_argument("--station-role", default=DEFAULT_STATION_ROLE, metavar="NAME",
                        help=f"the stations' role: reads templates, writes events (default {DEFAULT_STATION_ROLE})")
    parser.add_argument("--ask-passwords", action="store_true",
                        help="ask for each role's password (else $FACEAPP_ADMIN_PASSWORD and $FACEAPP_STATION_PASSWORD, "
                             "where set; an existing role keeps its password when none is given)")


def _passwords(args: argparse.Namespace) -> dict[str, str]:
    roles = {"admin": args.admin_role, "station": args.station_role}
    passwords = {roles[kind]: os.environ[env] for kind, env in PASSWORD_ENVS.items() if os.environ.get(env)}
    if args.ask_passwords:
        try:
            for kind, role in roles.items():
                first = getpass.getpass(f"password for the {kind} role {role!r} (empty: leave it): ")
                if not first:
                    continue
                if getpass.getpass("again: ") != first:
                    raise CLIError(f"the two passwords for {role!r} differ; nothing was changed")
                passwords[role] = first
        except EOFError:
            raise CLIError("--ask-passwords needs someone at a terminal; in a script give the passwords in "
                           f"{' and '.join(PASSWORD_ENVS.values())}; nothing was changed") from None
    return passwords


def cmd_db_init(ctx: Context, args: argparse.Namespace) -> int:
    passwords = _passwords(args)
    report = init_database(ctx.config.db, args.admin_role, args.station_role, passwords,
                           key=key_for(ctx.config.db, ctx.config))
    out(f"{report.location}: a faceapp gallery at schema {report.schema_version}")
    if not report.server:
        out("a SQLite file has no roles: whoever may read the file may do everything (see 'faceapp db encrypt')")
        return EXIT_OK
    for role, what in ((report.admin_role, "administrator: enrolls, renames and deletes people, reads face crops"),
                       (report.station_role, "station: reads templates and writes events; no crops, no changes")):
        made = "created" if role in report.new_roles else "kept, privileges set again"
        out(f"role {role!r} ({made}): {what}")
        if role in report.new_roles and role not in passwords:
            warn(f"role {role!r} has no password, so it cannot log in over the network: run db init "
                f"again with --ask-passwords or {PASSWORD_ENVS['admin' if role == report.admin_role else 'station']}")
    out("point each station at it with --db postgresql://" + f"{report.station_role}@HOST/DBNAME --station NAME")
    return EXIT_OK


def add_copy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="the gallery to copy: a SQLite file or a PostgreSQL URL")
    parser.add_argument("destination", metavar="DST", help="where to: a new SQLite file, or an empty PostgreSQL database")


def cmd_db_copy(ctx: Context, args: argparse.Namespace) -> int:
    def progress(table: str, done: int) -> None:
        if ctx.verbose:
            err(f"{table}: {done} copied")

    report = copy_database(args.source, args.destination, progress=progress,
                           source_key=key_for(args.source, ctx.config), destination_key=ctx.config.db_key)
    out(f"copied {table_counts(report.counts)} from {report.source} to {report.destination}; the counts match")
    return EXIT_OK


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    """db migrate works on --db."""


def cmd_db_migrate(ctx: Context, args: argparse.Namespace) -> int:
    report = migrate_database(ctx.config.db, key=key_for(ctx.config.db, ctx.config))
    if report.before == report.after:
        out(f"{report.location}: the schema is up to date (version {report.after})")
    else:
        out(f"{report.location}: upgraded the schema from version {report.before} to {report.after}")
        if report.server:  # grants name tables: the new ones have none yet
            warn("the roles' privileges do not reach the new tables yet: run 'faceapp db init' again as the "
                 "database's owner, with the same --admin-role and --station-role")
    return EXIT_OK
