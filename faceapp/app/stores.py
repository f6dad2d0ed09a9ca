"""Work on a gallery database as a whole, written once for ``faceapp db init | copy | migrate``:
set up a shared PostgreSQL gallery and its two roles, copy a gallery between any two stores
(SQLite to PostgreSQL and back, or file to file) and check that everything arrived, and
upgrade a store's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from ..storage import TRANSFER_COLUMNS, GalleryStore, create_roles, display_target, is_postgres_url, open_store

DEFAULT_ADMIN_ROLE = "faceapp_admin"
DEFAULT_STATION_ROLE = "faceapp_station"
COPY_PAGE_ROWS = 500  # rows a page: a page of templates with their crops is a few MB at most


@dataclass(frozen=True)
class InitReport:
    """What ``db init`` made: the gallery's schema version, and on a server its two roles."""

    location: str
    schema_version: int
    server: bool
    admin_role: str | None = None
    station_role: str | None = None
    new_roles: tuple[str, ...] = ()


def init_database(target: str | Path, admin_role: str = DEFAULT_ADMIN_ROLE, station_role: str = DEFAULT_STATION_ROLE,
                  passwords: Mapping[str, str] | None = None, key: str | None = None) -> InitReport:
    """Make the gallery at ``target`` (or bring it up to date) and, on a PostgreSQL server,
    the administrator and station roles with their privileges; ``passwords`` maps a role to
    the password to set. A SQLite file has no roles: it is only made. ``key`` opens (or, for a
    new gallery, seals) an encrypted one."""
    with open_store(target, create=True, key=key) as store:
        version = store.schema_versions[1]
        location = str(store.path)
    if not is_postgres_url(target):
        return InitReport(location, version, server=False)
    made = create_roles(str(target), admin_role, station_role, dict(passwords or {}))
    return InitReport(location, version, True, admin_role, station_role, tuple(made))


@dataclass(frozen=True)
class MigrateReport:
    location: str
    before: int
    after: int
    server: bool = False  # a PostgreSQL gallery, whose roles are granted table by table


def migrate_database(target: str | Path, key: str | None = None) -> MigrateReport:
    """Bring the schema of an existing gallery up to this faceapp's; says from which version.
    ``key`` opens an encrypted one."""
    with open_store(target, create=False, key=key) as store:
        before, after = store.schema_versions
        return MigrateReport(str(store.path), before, after, is_postgres_url(target))


@dataclass(frozen=True)
class CopyReport:
    source: str
    destination: str
    counts: dict[str, int]  # rows per table, the same in both


def export_pages(store: GalleryStore, page_rows: int = COPY_PAGE_ROWS,
                 progress: Callable[[str, int], None] | None = None) -> Iterator[tuple[str, list[tuple]]]:
    """Every row of ``store``, people first, then templates, events and remembered unknown
    faces (groups before their sightings), a page at a time (so a gallery of a million
    templates and their crops never sits in memory whole)."""
    for table in TRANSFER_COLUMNS:
        after, done = 0, 0
        while rows := store.export_rows(table, after, page_rows):
            yield table, rows
            after = rows[-1][0]
            done += len(rows)
            if progress is not None:
                progress(table, done)


def copy_database(source: str | Path, destination: str | Path, page_rows: int = COPY_PAGE_ROWS,
                  progress: Callable[[str, int], None] | None = None, source_key: str | None = None,
                  destination_key: str | None = None) -> CopyReport:
    """Copy people, templates (with their crops), events and remembered unknown faces from
    ``source`` into ``destination``, which must hold no gallery yet (a new file, or an empty
    database), in one transaction; then check that each table holds as many rows as the
    source. Ids are kept, so events keep pointing at their people and sightings at their
    groups. ``source_key`` opens an encrypted source; ``destination_key`` encrypts the
    destination (the copy is decrypted in between, on this machine only)."""
    if display_target(source) == display_target(destination):
        raise StoreError(f"{display_target(source)}: the source and the destination are the same database")
    new_file = None if is_postgres_url(destination) else Path(destination).expanduser()
    if new_file is not None and new_file.exists():
        new_file = None  # not ours to remove if the copy fails
    try:
        with (open_store(source, create=False, key=source_key) as src,
              open_store(destination, create=True, key=destination_key) as dst):
            expected = src.counts()
            written = dst.import_rows(export_pages(src, page_rows, progress))
            found = dst.counts()
            if written != expected or found != expected:
                raise StoreError(
                    f"{dst.path}: the copy is incomplete: the source held {expected}, {found} arrived. Was something "
                    "writing to the source meanwhile? Stop the stations, empty the destination and copy again"
                )
            return CopyReport(str(src.path), str(dst.path), expected)
    except BaseException:  # a refused or broken copy leaves no empty gallery file behind it
        if new_file is not None:
            for leftover in (new_file, *(new_file.with_name(new_file.name + end) for end in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)
        raise
