"""The open database as the front ends see it: people, templates and the event log, plus the
stale-template report. It wraps a storage backend (``faceapp.storage``), which nothing above
the application layer imports; renames, deletions and removals are the people-management
use-cases, written once here for the command line and the window.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from ..cohort import Cohort
from ..errors import StoreError
from ..match import Gallery
from ..reencode import StaleCounts, stale_counts
from ..storage import EVENT_KINDS, GalleryStore, PersonInfo, TemplateInfo, is_postgres_url, open_store
from .stations import EventOutbox, SharedGallery

log = logging.getLogger(__name__)


class Database:
    """An open faceapp database; ``with Database.open(...) as db`` closes it."""

    def __init__(self, store: GalleryStore) -> None:
        self.store = store  # for the application layer's use-cases only
        # The retention period (faceapp.app.privacy): events older than this many days are
        # erased at most once a day while the database is open; 0 keeps them.
        self.retention_days = 0
        self.last_purge: datetime | None = None
        # Events on their way to the log, kept while a shared gallery's server is away.
        self.outbox = EventOutbox()
        self.target = str(getattr(store, "path", ""))  # where it was opened (open() keeps the full target)

    @classmethod
    def open(cls, target: str | Path, create: bool = False, key: str | None = None,
             station: str | None = None) -> Database:
        """Open the database; ``key`` decrypts an encrypted one; ``station`` is recorded with
        every event logged through it. Front ends open the configured database through
        AppContext.open_database (or faceapp.app.privacy.open_database), which finds the key
        and applies the retention period."""
        if is_postgres_url(target):
            from .server_passwords import with_kept_password

            target = with_kept_password(str(target))  # a password the settings moved to the keyring
        db = cls(open_store(target, create=create, key=key, station=station))
        db.target = str(target)
        return db

    @staticmethod
    def exists(target: str | Path) -> bool:
        """Whether a database file is there (a fresh install has none yet); a server is taken
        to be there: opening it says clearly when it is not."""
        if is_postgres_url(target):
            return True
        return Path(str(target)).expanduser().exists()

    @property
    def location(self) -> str:
        """The file (or server) as messages name it."""
        return str(self.store.path)

    def close(self) -> None:
        if self.outbox.pending:
            self.store.retry_now()  # the server may be back within the back-off: one real try
        if self.outbox.pending and not self.flush_events():
            log.warning("%s: %d event(s) could not be written: the gallery is offline",
                        self.location, len(self.outbox.pending))
        self.store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- people and templates ------------------------------------------------------------

    def people(self) -> list[PersonInfo]:
        return self.store.people()

    def person(self, name: str) -> PersonInfo:
        """The person as stored (UnknownPersonError when nobody has that name)."""
        return self.store.person(name)

    def has_person(self, name: str) -> bool:
        return self.store.has_person(name)

    def thumbnail(self, name: str) -> bytes | None:
        return self.store.thumbnail(name)

    def rename(self, old: str, new: str) -> tuple[str, str]:
        """Rename; returns (old name as stored, new name as stored)."""
        before = self.store.person(old).name
        self.store.rename(old, new)
        return before, self.store.person(new).name

    def delete(self, name: str) -> int:
        """Delete a person and their templates; returns how many templates went."""
        return self.store.delete(name)

    def templates(self, name: str) -> list[TemplateInfo]:
        return self.store.templates(name)

    def template(self, name: str, template_id: int) -> TemplateInfo:
        """One template of a person, or StoreError naming how to list theirs."""
        stored = self.store.person(name).name
        found = next((t for t in self.store.templates(stored) if t.id == template_id), None)
        if found is None:
            raise StoreError(f"{stored} has no template {template_id}; list theirs with "
                             f"'faceapp people templates \"{stored}\"'")
        return found

    def template_crop(self, name: str, template_id: int) -> bytes | None:
        return self.store.template_crop(name, template_id)

    def remove_template(self, name: str, template_id: int) -> int:
        """Remove one template; returns how many the person has left."""
        return self.store.delete_template(name, template_id)

    def gallery(self, model_id: str, cohort: Cohort | None) -> Gallery:
        """Every usable template of ``model_id``, as an immutable snapshot for matching, judged
        with that model's ``cohort`` (``Pipeline.cohort``: what its card's thresholds assume)."""
        return self.store.gallery(model_id).with_cohort(cohort)

    def usable_templates(self, person: PersonInfo, gallery: Gallery) -> int:
        return int(len(gallery.for_person(person.id)))

    def stale_people(self, model_id: str) -> dict[str, int]:
        return self.store.stale_people(model_id)

    def stale_report(self, model_id: str) -> StaleCounts:
        """Templates another model made (not compared) and what can become of them."""
        return stale_counts(self.store, model_id)

    # --- events --------------------------------------------------------------------------

    def events(self, limit: int = 100, name: str | None = None) -> list[dict[str, Any]]:
        return self.store.events(limit, name)

    @property
    def offline(self) -> bool:
        """Whether the last write found a shared gallery's server out of reach."""
        return self.outbox.offline

    def log_event(self, kind: str, *, at: str | None = None, **fields: Any) -> bool:
        """Log an event that happened ``at`` (ISO-8601 UTC; default now); True when it is in the
        database now, False when the server is out of reach and it is kept, to be written (once)
        with the next event after it is back."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        if not self.outbox.log(self.store, kind, fields, at):
            return False
        if self.retention_days:
            from .privacy import purge_if_due

            purge_if_due(self)  # a long-running identify or window purges at most once a day
        return True

    def flush_events(self) -> bool:
        """Write the events kept while offline, if the server is back; True when none wait."""
        return self.outbox.flush(self.store)

    def catch_up(self, shared: SharedGallery) -> bool:
        """The one rule for a station whose shared gallery's server went away: once the gallery
        answers again, write the events kept meanwhile. True while the station is offline."""
        if self.outbox.pending and not shared.offline:
            self.flush_events()
        return shared.offline or self.offline

    def shared_gallery(self, model_id: str, cohort: Cohort | None, gallery: Gallery | None = None) -> SharedGallery:
        """``model_id``'s gallery (``gallery`` if it was just read), judged with ``cohort``, held in
        memory and reloaded when another station changes it; close it when done."""
        return SharedGallery(self.store, self.target, model_id, cohort, gallery)
