"""What the window's panels share: the one resolved configuration, the open database, the
gallery and the loaded model's facts, with signals when they change.

Lives in the GUI thread. The configuration (an AppConfig from :func:`faceapp.app.resolve_config`)
is held here and nowhere else, and is replaced whole when the settings change, so a panel
never sees half of a change. The database is the application layer's :class:`Database`, used
only from this thread (the worker gets immutable Gallery snapshots and plain values).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from ..app import AppConfig, Database, PersonInfo
from ..app.attendance import AttendanceSession
from ..app.privacy import open_database, purge_if_due
from ..app.recognition import SightingRule, log_sightings
from ..app.stations import CHECK_EVERY_S, SharedGallery
from ..errors import FaceAppError, StoreError
from ..match import Gallery
from ..types import FrameResult
from .worker import PipelineInfo, VideoWorker

log = logging.getLogger(__name__)

T = TypeVar("T")

RETENTION_CHECK_MS = 60 * 60 * 1000  # hourly; the purge itself runs at most once a day


class AppState(QObject):
    config_changed = Signal()  # the configuration was replaced (the settings dialog)
    source_changed = Signal()  # another source (or the same one again) starts playing
    people_changed = Signal()  # enrolled, renamed or deleted someone
    events_changed = Signal()  # an event was logged
    error = Signal(str)  # a problem to show in the message bar
    action_failed = Signal(str)  # a rename, delete or removal that did not happen; cleared by the next change
    session_changed = Signal()  # an attendance session started or ended

    def __init__(self, config: AppConfig, worker: VideoWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.worker = worker
        self.db: Database | None = None
        self.db_error: str | None = None
        self.info: PipelineInfo | None = None
        self.gallery: Gallery | None = None
        self.source_label = ""
        self.source_live = False  # a source is opening or delivering frames (not ended, failed or stopped)
        self.session: AttendanceSession | None = None  # the attendance session being taken, if any
        self.session_label = ""  # the running or the last session's name, for the attendance list
        # The retention period's daily purge while the window stays open (at start, opening purges).
        self.retention_timer = QTimer(self)
        self.retention_timer.setInterval(RETENTION_CHECK_MS)
        self.retention_timer.timeout.connect(self.purge_expired)
        self.retention_timer.start()
        self.config_changed.connect(self.purge_expired)  # a shorter period in the settings applies at once
        # A shared gallery: another station's enrollment, rename or deletion reaches the worker
        # within the check interval, and a server that goes away is said so (faceapp.app.stations).
        self.shared: SharedGallery | None = None
        self.offline = False
        self.shared_timer = QTimer(self)
        self.shared_timer.setInterval(int(CHECK_EVERY_S * 1000))
        self.shared_timer.timeout.connect(self.check_shared_gallery)
        self.shared_timer.start()

    @property
    def threshold(self) -> float | None:
        """The distance threshold the configuration resolved to (None: its model card is unreadable)."""
        return self.config.threshold

    def set_config(self, config: AppConfig) -> None:
        """Replace the configuration (never edited in place); panels re-read it on ``config_changed``."""
        self.config = config
        self.config_changed.emit()

    def set_source(self, label: str) -> None:
        """A source starts (opening): its frames' times start afresh."""
        self.source_label = label
        self.source_live = True
        if self.session is not None and self.db is not None:  # the new source's times start at its own start
            self.session = AttendanceSession(self.db, self.session.name, self.config.margin)
        self.source_changed.emit()

    # --- database --------------------------------------------------------------------

    def open_database(self) -> bool:
        """Open (or create) the configured database; on failure the message goes to ``db_error`` and ``error``."""
        self.close_database()
        try:
            self.db = open_database(self.config, create=True)  # its key, and the retention purge
        except StoreError as exc:
            self.db_error = str(exc)
            self.error.emit(f"Database: {exc}")
            self.reload_gallery()
            self.people_changed.emit()
            return False
        self.db_error = None
        self.reload_gallery()
        self.people_changed.emit()
        self.events_changed.emit()
        return True

    def close_database(self) -> None:
        self.end_session()  # its marks go to the database it was started on, or nowhere
        self._drop_shared()
        if self.db is not None:
            self.db.close()
            self.db = None

    def reload_gallery(self) -> None:
        """Read the loaded model's templates again and hand them to the worker."""
        gallery = None
        self._drop_shared()
        if self.db is not None and self.info is not None:
            try:
                gallery = self.db.gallery(self.info.model_id, self.info.cohort)
                self.shared = self.db.shared_gallery(self.info.model_id, self.info.cohort, gallery)
            except StoreError as exc:
                self.error.emit(f"Database: {exc}")
        self.gallery = gallery
        self.worker.set_gallery(gallery)

    def _drop_shared(self) -> None:
        if self.shared is not None:
            self.shared.close()
            self.shared = None

    def check_shared_gallery(self) -> None:
        """Hand the worker the gallery again when another station changed it; say plainly when
        the server is out of reach (matching goes on with the gallery held) and when it is back,
        writing the events kept meanwhile."""
        if self.shared is None or self.db is None:
            return
        before = self.shared.reloads
        gallery = self.shared.current()
        offline = self.db.catch_up(self.shared)
        if offline != self.offline:
            self.offline = offline
            self.error.emit("Gallery offline: matching goes on with the people known until now; events are kept "
                            "and written when the server is back" if offline else "Gallery online again")
            if not offline:
                self.events_changed.emit()
        if self.shared.reloads != before:
            self.gallery = gallery
            self.worker.set_gallery(gallery)
            self.people_changed.emit()

    def read(self, what: Callable[[Database], T], default: T) -> T:
        """``what(db)``, or ``default`` when no database is open or it fails (the failure is shown)."""
        if self.db is None:
            return default
        try:
            return what(self.db)
        except StoreError as exc:
            self.error.emit(f"Database: {exc}")
            return default

    def people(self) -> list[PersonInfo]:
        return self.read(lambda db: db.people(), [])

    def person(self, person_id: int) -> PersonInfo | None:
        """The enrolled person with this id (ids stay when names change), or None."""
        return next((p for p in self.people() if p.id == person_id), None)

    def usable_templates(self, person_id: int) -> int:
        """How many of a person's templates the loaded model can use."""
        if self.gallery is None:
            return 0
        return int(len(self.gallery.for_person(person_id)))

    def changed_people(self) -> None:
        self.reload_gallery()
        self.people_changed.emit()
        self.events_changed.emit()

    # --- events ----------------------------------------------------------------------

    def write_event(self, kind: str, write: Callable[[Database], T]) -> T | None:
        """Run ``write(db)``, which logs ``kind`` events through the application layer; a database
        problem is reported, not raised (the video goes on). None when nothing could be written."""
        if self.db is None:
            return None
        try:
            value = write(self.db)
        except StoreError as exc:
            self.error.emit(f"Database: cannot log the {kind} event: {exc}")
            return None
        self.events_changed.emit()
        return value

    def log_event(self, kind: str, **fields: Any) -> bool:
        """Write one event as it is (the source is the one playing unless given)."""
        fields.setdefault("source", self.source_label or None)
        return self.write_event(kind, lambda db: db.log_event(kind, **fields)) is not None

    def log_sightings(self, result: FrameResult, rule: SightingRule) -> list[dict]:
        """Log the sightings ``rule`` picks out of ``result`` (the application layer's one rule);
        returns the events written, newest first, for the Identify panel to list."""
        if self.db is None:
            return []
        try:
            count = log_sightings(self.db, result, rule, self.source_label, self.session)
            logged = [e for e in self.db.events(count) if e.get("kind") == "identify"] if count else []
        except StoreError as exc:
            self.error.emit(f"Database: cannot log the identify event: {exc}")
            return []
        if count:
            self.events_changed.emit()
        return logged

    def purge_expired(self) -> int:
        """Erase the events past the retention period, if a day has passed since the last purge
        (the application layer's rule) or the period was changed in the settings."""
        if self.db is None:
            return 0
        if self.db.retention_days != self.config.retention_days:
            self.db.retention_days, self.db.last_purge = self.config.retention_days, None
        gone = self.read(purge_if_due, 0)
        if gone:
            self.events_changed.emit()
        return gone

    def events(self, limit: int = 200) -> list[dict]:
        return self.read(lambda db: db.events(limit), [])

    # --- attendance ----------------------------------------------------------------------

    def start_session(self, name: str) -> bool:
        """Take attendance from now on (the application layer's session, as ``identify --session``);
        a bad name or no database is said in the message bar."""
        if self.db is None:
            self.action_failed.emit("Cannot start a session: no database is open")
            return False
        try:
            self.session = AttendanceSession(self.db, name, self.config.margin)
        except FaceAppError as exc:
            self.action_failed.emit(f"Cannot start the session: {exc}")
            return False
        self.session_label = self.session.name
        self.session_changed.emit()
        return True

    def end_session(self) -> None:
        """Stop taking attendance; the marks made stay in the log."""
        if self.session is not None:
            self.session = None
            self.session_changed.emit()
