"""The two roles of a shared gallery, least privilege first (``faceapp db init``).

- the **administrator** enrolls, renames and deletes people, reads and removes templates and
  their face crops, re-encodes, purges and copies the event log, and makes a new gallery an
  encrypted one (the key check of :mod:`.postgres_crypto`);
- a **station** reads what matching needs (names and templates, never a thumbnail or a face
  crop) and writes events; it cannot enroll, rename, delete or change a template.

The schema and its migrations belong to the role that ran ``db init`` (the database owner), so
neither role can change the tables themselves. Running init again re-applies the grants (after
a migration, say) and keeps existing roles and their passwords unless new ones are given.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from ..errors import StoreError
from .postgres_connection import connect, display_url, normal_url, one_line
from .postgres_schema import SCHEMA

# What a station may read: everything matching and the people list need, no image.
STATION_PEOPLE_COLUMNS = ("id", "name", "name_key", "created_at", "has_thumbnail")
STATION_TEMPLATE_COLUMNS = ("id", "person_id", "model_id", "dim", "encoding", "source", "quality", "created_at",
                            "has_crop")


def _ident(*names: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _ensure_role(conn: psycopg.Connection, role: str, password: str | None) -> bool:
    """Create ``role`` (a login role) unless it exists; set its password when one is given,
    hashed here (SCRAM-SHA-256), so the password itself never reaches the server or its logs.
    Returns whether the role was new."""
    new = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
    if new:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    if password:
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))
    return new


def _grant(conn: psycopg.Connection, admin: str, station: str) -> None:
    both = _ident(admin, station)
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), both))
    conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), both))
    # Start from nothing, so running init again also takes back what a role should not have.
    for role in (admin, station):
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sql.Identifier(SCHEMA), sql.Identifier(role)))
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(sql.Identifier(SCHEMA), sql.Identifier(role)))
    conn.execute(sql.SQL("GRANT SELECT ON meta TO {}").format(both))
    # The administrator sets up an encrypted gallery's key check (new rows only: it cannot
    # change the schema version, or a key check once made).
    conn.execute(sql.SQL("GRANT INSERT ON meta TO {}").format(sql.Identifier(admin)))
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON people, templates, events TO {}").format(sql.Identifier(admin)))
    conn.execute(sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
        sql.Identifier(SCHEMA), sql.Identifier(admin)))
    conn.execute(sql.SQL("GRANT SELECT ({}) ON people TO {}").format(_ident(*STATION_PEOPLE_COLUMNS), sql.Identifier(station)))
    conn.execute(sql.SQL("GRANT SELECT ({}) ON templates TO {}").format(_ident(*STATION_TEMPLATE_COLUMNS), sql.Identifier(station)))
    conn.execute(sql.SQL("GRANT SELECT, INSERT ON events TO {}").format(sql.Identifier(station)))
    sequence = conn.execute("SELECT pg_get_serial_sequence('events', 'id')").fetchone()[0]
    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(sequence), sql.Identifier(station)))
    # Unknown faces: a station remembers them (new groups and sightings, and reads the encodings
    # to group them); only the administrator names or forgets them, or reads their crops.
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON unknown_groups, unknown_sightings TO {}").format(
        sql.Identifier(admin)))
    conn.execute(sql.SQL("GRANT SELECT, INSERT ON unknown_groups TO {}").format(sql.Identifier(station)))
    conn.execute(sql.SQL("GRANT INSERT ON unknown_sightings TO {}").format(sql.Identifier(station)))
    conn.execute(sql.SQL("GRANT SELECT (id, group_id, at, source, model_id, dim, encoding) ON unknown_sightings TO {}")
                 .format(sql.Identifier(station)))
    for table in ("unknown_groups", "unknown_sightings"):
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(sequence), sql.Identifier(station)))


def create_roles(url: str, admin: str, station: str, passwords: Mapping[str, str] | None = None) -> list[str]:
    """Create (or keep) the administrator and station roles and grant each what it may do
    on the gallery at ``url``, which must exist already (open it first). Returns the roles
    that were new. StoreError, naming the server, when the connecting role may not do this."""
    url = normal_url(url)
    where = display_url(url)
    if admin == station:
        raise StoreError("the administrator and station roles must be two different roles")
    passwords = passwords or {}
    try:
        conn = connect(url)
    except psycopg.Error as exc:
        raise StoreError(f"{where}: cannot connect to the PostgreSQL server ({one_line(exc)})") from None
    try:
        with conn.transaction():
            made = [role for role in (admin, station) if _ensure_role(conn, role, passwords.get(role))]
            _grant(conn, admin, station)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError(f"{where}: the role {conn.info.user!r} may not create roles or grant on the gallery "
                         f"({one_line(exc)}); run 'faceapp db init' as the database's owner with CREATEROLE, "
                         "e.g. the postgres superuser") from None
    except psycopg.Error as exc:
        raise StoreError(f"{where}: could not set up the roles ({one_line(exc)})") from None
    finally:
        conn.close()
    return made
