"""The SQLite file format of a faceapp gallery: its tables, the migrations between schema
versions, and the checks that a file is a healthy faceapp database.

The checks only read, so they run before anything is written: a wrong --db never destroys
someone's file. Encodings are stored as little-endian float32 bytes (never pickles), tagged
with the model that made them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from ..errors import StoreError

# PRAGMA application_id marks the file as faceapp's, so another program's database is refused.
APPLICATION_ID = 0x46414345  # "FACE"


# ---------------------------------------------------------------------------------------
# Schema migrations. Each function moves the schema from version i to i + 1 and runs in
# its own transaction together with the PRAGMA user_version bump, so a crash leaves the
# database at a whole version. Append new migrations; never edit a released one.


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name_key TEXT NOT NULL UNIQUE,
            created_at TEXT,
            thumbnail BLOB
        )"""
    )
    db.execute(
        """CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            encoding BLOB NOT NULL,
            source TEXT,
            quality REAL,
            created_at TEXT
        )"""
    )
    db.execute("CREATE INDEX templates_model_person ON templates(model_id, person_id)")
    # Foreign keys need an index on the child column, or deleting a person scans all templates.
    db.execute("CREATE INDEX templates_person ON templates(person_id)")
    db.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            name TEXT,
            decision TEXT,
            distance REAL,
            source TEXT
        )"""
    )
    db.execute("CREATE INDEX events_person ON events(person_id)")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _m2_template_crops(db: sqlite_utils.Database) -> None:
    # NULL for templates enrolled before crops were kept: those cannot be re-encoded.
    db.execute("ALTER TABLE templates ADD COLUMN crop BLOB")


def _m3_event_station(db: sqlite_utils.Database) -> None:
    # Which station logged each event (--station); NULL for events from before stations.
    db.execute("ALTER TABLE events ADD COLUMN station TEXT")
    # A queued event's own id (log_events), so that writing it twice stores it once.
    db.execute("ALTER TABLE events ADD COLUMN uid TEXT")
    db.execute("CREATE UNIQUE INDEX events_uid ON events(uid)")
    # A counter that moves with every change to people or templates, never with an event, so a
    # window watching the file (sqlite_watch) reloads its gallery only when there is cause.
    db.execute("CREATE TABLE gallery_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
    db.execute("INSERT INTO gallery_changes (id, n) VALUES (1, 0)")
    for table in ("people", "templates"):
        for op in ("INSERT", "UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_{op.lower()}_counted AFTER {op} ON {table}"
                       " BEGIN UPDATE gallery_changes SET n = n + 1; END")


def _m4_unknowns(db: sqlite_utils.Database) -> None:
    # Faces that stayed Unknown, remembered when the setting is on (faceapp.app.unknowns): a
    # group per anonymous person, and each sighting's encoding and crop, to name them later.
    db.execute("CREATE TABLE unknown_groups (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE unknown_sightings (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES unknown_groups(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            source TEXT,
            station TEXT,
            model_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            encoding BLOB NOT NULL,
            crop BLOB
        )"""
    )
    db.execute("CREATE INDEX unknown_sightings_group ON unknown_sightings(group_id)")


def _m5_unknown_group_ids(db: sqlite_utils.Database) -> None:
    # SQLite gives a new row the largest id + 1, so forgetting or naming the newest group handed
    # its id to the next stranger, and 'unknowns name 7' read from an earlier list named him.
    # The last id ever given is kept here (PostgreSQL's identity column never reuses one).
    db.execute("CREATE TABLE unknown_group_ids (last INTEGER NOT NULL)")
    db.execute("INSERT INTO unknown_group_ids (last) SELECT COALESCE(MAX(id), 0) FROM unknown_groups")


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_m1_initial, _m2_template_crops, _m3_event_station,
                                                                   _m4_unknowns, _m5_unknown_group_ids)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------------------------------


def user_version(db: sqlite_utils.Database) -> int:
    """The schema version the file is at (0: a new, empty file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_file(db: sqlite_utils.Database, path: Path | str) -> None:
    """StoreError unless the open file is a healthy faceapp database this faceapp can use.

    Only reads. sqlite3 errors (not SQLite at all, locked) propagate for the caller to
    translate.
    """
    # Reads the header: a file that is not SQLite fails here, before anything is written.
    version = user_version(db)
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"{path}: this SQLite file belongs to another program "
            f"(application_id {app_id:#x}). Choose another database file (--db, or Settings in the window)"
        )
    if app_id == 0 and version and not {"people", "templates", "events"} <= set(db.table_names()):
        # Another program's file that numbers its own schema: never migrate it into a gallery.
        raise StoreError(
            f"{path}: this SQLite file holds tables that are not faceapp's "
            f"({', '.join(db.table_names()[:5]) or 'none'}). Choose another database file (--db, or Settings in the window)"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the database was made by a newer faceapp (schema {version}, "
            f"this one knows up to {SCHEMA_VERSION}). Upgrade faceapp"
        )
    if version == 0 and db.table_names():
        raise StoreError(
            f"{path}: this SQLite file holds tables that are not faceapp's "
            f"({', '.join(db.table_names()[:5])}). Choose another database file (--db, or Settings in the window)"
        )
    # Catches damaged pages that opening alone never reads (a template table, say).
    problems = [" ".join(str(row[0]).split()) for row in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise StoreError(
            f"{path}: the database is damaged ({'; '.join(problems[:3])}). "
            "Restore a backup or start a new one (--db, or Settings in the window)"
        )


def migrate(db: sqlite_utils.Database, write: Callable[[], AbstractContextManager[object]]) -> None:
    """Bring the schema up to :data:`SCHEMA_VERSION`, one migration per ``write()`` transaction."""
    for target in range(1, SCHEMA_VERSION + 1):
        if user_version(db) >= target:
            continue
        with write():
            # Re-read under the write lock: another process may have migrated meanwhile.
            if user_version(db) >= target:
                continue
            MIGRATIONS[target - 1](db)
            db.execute(f"PRAGMA user_version = {target}")
