"""The open database as the front ends see it: people, templates and the event log, plus the
stale-template report. It wraps a storage backend (``faceapp.storage``), which nothing above
the application layer imports; renames, deletions and removals are the people-management
use-cases, written once here for the command line and the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..match import Gallery
from ..reencode import StaleCounts, stale_counts
from ..storage import GalleryStore, PersonInfo, TemplateInfo, open_store


class Database:
    """An open faceapp database; ``with Database.open(...) as db`` closes it."""

    def __init__(self, store: GalleryStore) -> None:
        self.store = store  # for the application layer's use-cases only

    @classmethod
    def open(cls, target: str | Path, create: bool = False) -> Database:
        return cls(open_store(target, create=create))

    @staticmethod
    def exists(target: str | Path) -> bool:
        """Whether a database file is there (a fresh install has none yet)."""
        return Path(str(target)).expanduser().exists()

    @property
    def location(self) -> str:
        """The file (or server) as messages name it."""
        return str(self.store.path)

    def close(self) -> None:
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

    def gallery(self, model_id: str) -> Gallery:
        """Every usable template of ``model_id``, as an immutable snapshot for matching."""
        return self.store.gallery(model_id)

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

    def log_event(self, kind: str, **fields: Any) -> int:
        return self.store.log_event(kind, **fields)
