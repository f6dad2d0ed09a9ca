"""A station on a shared gallery, written once for the command line and the window: the gallery
held in memory and reloaded when another station changes it (LISTEN/NOTIFY on PostgreSQL), and
the events on their way to the log, kept while the server is out of reach and written once each
when it is back. Matching never waits for the server: it goes on against the gallery held.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..cohort import Cohort
from ..errors import GalleryOfflineError
from ..match import Gallery
from ..storage import GalleryStore, GalleryWatcher, QueuedEvent, watch_gallery
from ..storage.common import now

log = logging.getLogger("faceapp.station")

CHECK_EVERY_S = 0.25  # how often a live loop asks whether the gallery changed (well within 2 s)


class EventOutbox:
    """The events a station decided and the gallery does not hold yet. Every event gets its own
    uid when decided, so writing it twice (a reply lost with the connection) stores it once."""

    def __init__(self) -> None:
        self.pending: list[QueuedEvent] = []
        self.offline = False

    def log(self, store: GalleryStore, kind: str, fields: Mapping[str, Any], at: str | None = None) -> bool:
        """Log one event, at ``at`` (ISO-8601 UTC; default now); True when it reached the database
        now, False when it waits for the gallery to come back (it is then written, after the ones
        before it, by the next call)."""
        self.pending.append(QueuedEvent(uuid.uuid4().hex, at or now(), kind, **fields))
        return self.flush(store)

    def flush(self, store: GalleryStore) -> bool:
        """Write whatever waits; True when nothing waits any more."""
        if not self.pending:
            return True
        try:
            store.log_events(self.pending)
        except GalleryOfflineError as exc:
            if not self.offline:
                self.offline = True
                log.warning("gallery offline: %s. Matching goes on against the gallery in memory; "
                            "events are kept and written when it is back", exc)
            return False
        if self.offline:
            self.offline = False
            log.warning("gallery online again: %d event(s) kept meanwhile were written", len(self.pending))
        self.pending.clear()
        return True


class SharedGallery:
    """The gallery of one model held in memory, reloaded when the database says it changed
    (asked at most every ``check_every_s``); while the server is away the gallery held stays
    in use and ``offline`` says so."""

    def __init__(self, store: GalleryStore, target: str, model_id: str, cohort: Cohort | None,
                 gallery: Gallery | None = None, check_every_s: float = CHECK_EVERY_S) -> None:
        self.store = store
        self.model_id = model_id
        self.cohort = cohort
        self.check_every_s = check_every_s
        self.gallery: Gallery = (store.gallery(model_id) if gallery is None else gallery).with_cohort(cohort)
        self.watcher: GalleryWatcher = watch_gallery(target)
        self.offline = False
        self.reloads = 0
        self._checked = time.monotonic()

    def current(self) -> Gallery:
        """The gallery to match against now: reloaded first if another station changed it."""
        moment = time.monotonic()
        if moment - self._checked < self.check_every_s:
            return self.gallery
        self._checked = moment
        if self.watcher.changed() or (self.offline and self.watcher.online):
            try:
                self.gallery = self.store.gallery(self.model_id).with_cohort(self.cohort)
                self.reloads += 1
                self.offline = False
            except GalleryOfflineError:
                self.offline = True
        else:
            self.offline = not self.watcher.online
        return self.gallery

    def close(self) -> None:
        self.watcher.close()
