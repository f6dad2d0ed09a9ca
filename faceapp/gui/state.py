"""What the window's panels share: the open database, the gallery, the loaded model's facts and
the preferences, with signals when they change. Lives in the GUI thread; the Store is used
only from here (the worker gets immutable Gallery snapshots)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..errors import StoreError
from ..match import Gallery
from ..store import PersonInfo, Store
from .prefs import GuiPrefs
from .worker import PipelineInfo, VideoWorker

log = logging.getLogger(__name__)


class AppState(QObject):
    people_changed = Signal()  # enrolled, renamed or deleted someone
    events_changed = Signal()  # an event was logged
    error = Signal(str)  # a problem to show in the message bar
    action_failed = Signal(str)  # a rename, delete or removal that did not happen; cleared by the next change

    def __init__(self, prefs: GuiPrefs, worker: VideoWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self.worker = worker
        self.store: Store | None = None
        self.store_error: str | None = None
        self.info: PipelineInfo | None = None
        self.gallery: Gallery | None = None
        self.threshold: float | None = None
        self.source_label = ""
        self.source_live = False  # a source is opening or delivering frames (not ended, failed or stopped)

    # --- database --------------------------------------------------------------------

    def open_store(self, path: Path | str) -> bool:
        """Open (or create) the database; on failure the message goes to ``store_error`` and ``error``."""
        self.close_store()
        try:
            self.store = Store.open(path)
        except StoreError as exc:
            self.store_error = str(exc)
            self.error.emit(f"Database: {exc}")
            self.reload_gallery()
            self.people_changed.emit()
            return False
        self.store_error = None
        self.reload_gallery()
        self.people_changed.emit()
        self.events_changed.emit()
        return True

    def close_store(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def reload_gallery(self) -> None:
        """Read the current model's templates again and hand them to the worker."""
        gallery = None
        if self.store is not None and self.info is not None:
            try:
                gallery = self.store.gallery(self.info.model_id)
            except StoreError as exc:
                self.error.emit(f"Database: {exc}")
        self.gallery = gallery
        self.worker.set_gallery(gallery)

    def people(self) -> list[PersonInfo]:
        if self.store is None:
            return []
        try:
            return self.store.people()
        except StoreError as exc:
            self.error.emit(f"Database: {exc}")
            return []

    def usable_templates(self, person_id: int) -> int:
        """How many of a person's templates the loaded model can use."""
        if self.gallery is None:
            return 0
        return int(np.count_nonzero(self.gallery.person_ids == person_id))

    def changed_people(self) -> None:
        self.reload_gallery()
        self.people_changed.emit()
        self.events_changed.emit()

    def log_event(self, kind: str, **fields: Any) -> bool:
        """Write an event; a database problem is reported, not raised (the video goes on)."""
        if self.store is None:
            return False
        fields.setdefault("source", self.source_label or None)
        try:
            self.store.log_event(kind, **fields)
        except StoreError as exc:
            self.error.emit(f"Database: cannot log the {kind} event: {exc}")
            return False
        self.events_changed.emit()
        return True

    def events(self, limit: int = 200) -> list[dict]:
        if self.store is None:
            return []
        try:
            return self.store.events(limit)
        except StoreError as exc:
            self.error.emit(f"Database: {exc}")
            return []
