"""Verify mode: choose who is claimed, decide over several consistent frames, lock out after
repeated rejections; every attempt goes to the events log.

The decision is the application layer's, shared with ``faceapp verify --camera``: who can be
verified (``check_verifiable``), which face counts (``claim_distance``), when the frames agree
(``VerifyDecider``) and what is logged (``log_verification``). This panel adds what only a
window has: the overlay, the lockout display and the claim list."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..app import AppConfig, PersonInfo
from ..app.recognition import NotVerifiableError, check_verifiable, claim_distance, log_verification, outcome_result
from ..errors import UnknownPersonError
from ..match import Gallery, verify
from ..types import FrameResult
from ..verification import VerifyDecider, VerifyOutcome
from .common import LOCK, NO, OK, WARN, fmt_distance, status_icon
from .state import AppState
from .video_view import FaceLabel


def decider_settings(config: AppConfig) -> tuple[int, int, int, float]:
    """(window, needed, max_rejections, lockout_s) as VerifyDecider takes them."""
    window = config.verify_window
    return window, min(config.verify_needed, window), config.max_rejections, config.lockout_s


def make_decider(config: AppConfig) -> VerifyDecider:
    return VerifyDecider(*decider_settings(config))


def _verifiable(person: PersonInfo, gallery: Gallery) -> bool:
    """Whether the loaded model has something of ``person`` to compare with (the application
    layer's rule; its message advises the command line, so the panel words its own)."""
    try:
        check_verifiable(person, gallery)
    except NotVerifiableError:
        return False
    return True


class VerifyPanel(QWidget):
    decided = Signal(object)  # VerifyOutcome

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.decider = make_decider(state.config)
        self.person: PersonInfo | None = None  # the claimed person of the attempt in progress
        self.last_outcome: VerifyOutcome | None = None
        self.claim_box = QComboBox()
        self.claim_box.currentIndexChanged.connect(lambda *_: self.cancel())
        self.verify_button = QPushButton("Verify")
        self.verify_button.setDefault(True)
        self.verify_button.clicked.connect(lambda: self.start())
        self.icon = QLabel()
        self.icon.setFixedSize(32, 32)
        self.status = QLabel("Choose who is claimed, then press Verify.")
        self.status.setWordWrap(True)
        font = self.status.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.status.setFont(font)
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.lock_label = QLabel("")
        self.lock_label.setWordWrap(True)
        self.lock_label.hide()
        row = QHBoxLayout()
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.status, 1)
        form = QFormLayout()
        form.addRow("Claimed person:", self.claim_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.verify_button)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.lock_label)
        layout.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._tick)
        state.people_changed.connect(self.refresh_people)
        state.config_changed.connect(self.apply_config)

    # --- setup -------------------------------------------------------------------------

    def apply_config(self) -> None:
        old = self.decider
        settings = decider_settings(self.state.config)
        if (old.window, old.needed, old.max_rejections, old.lockout_s) != settings:
            if old.active:
                self.cancel()
            self.decider = old.reconfigured(*settings)  # a lockout in force stays in force
            self._tick()

    def refresh_people(self) -> None:
        """Rebuild the claim list, keeping the chosen person by id: a rename must not move the
        claim to someone else."""
        current = self.claim_box.currentData()
        self.claim_box.blockSignals(True)
        self.claim_box.clear()
        for person in self.state.people():
            self.claim_box.addItem(person.name, person.id)
        index = self.claim_box.findData(current) if current is not None else -1
        self.claim_box.setCurrentIndex(index if index >= 0 else (0 if self.claim_box.count() else -1))
        self.claim_box.blockSignals(False)
        if self.decider.active and self.claim_box.currentData() != self.decider.claimed_id:
            self.cancel()
        self._tick()

    def set_claim(self, name: str) -> bool:
        index = self.claim_box.findText(name)
        if index >= 0:
            self.claim_box.setCurrentIndex(index)
        return index >= 0

    # --- attempts ----------------------------------------------------------------------

    def _claim(self) -> tuple[str, int] | None:
        if self.claim_box.currentIndex() < 0:
            return None
        return self.claim_box.currentText(), int(self.claim_box.currentData())

    def start(self) -> bool:
        """Start an attempt for the chosen claim; False (with the reason shown) when it cannot."""
        if self.state.db is None:
            reason = f": {self.state.db_error}" if self.state.db_error else ""
            self._show("warning", f"{WARN} No database is open{reason}. Choose one in Settings.")
            return False
        claim = self._claim()
        if claim is None:
            self._show("warning", f"{WARN} Nobody is enrolled yet: enroll someone first.")
            return False
        name, person_id = claim
        gallery = self.state.gallery
        if gallery is None or self.state.threshold is None:
            self._show("warning", f"{WARN} The face model is not loaded yet.")
            return False
        person = self.state.person(person_id)
        if person is None or not _verifiable(person, gallery):
            self._show("warning", f"{WARN} {name} has no templates for the loaded model: add photos of them again.")
            return False
        if not self.state.source_live:
            self._show("warning", f"{WARN} No video is playing: choose a source (or play it again), then press Verify.")
            return False
        if not self.decider.start(name, person_id):
            self.state.log_event("verify", name=name, person_id=person_id, decision="refused: locked out")
            self._tick()
            return False
        self.person = person
        self._show("info", f"Verifying {name}: look at the camera …")
        self.progress.setText(f"0 of {self.decider.needed} consistent frames")
        self.verify_button.setEnabled(False)
        return True

    def source_stopped(self) -> None:
        """The video ended or failed during an attempt: decide on the frames seen so far
        (rejected as inconsistent, like any attempt that ran out of frames), or, with no face
        seen at all, end it without a decision instead of waiting for frames that never come."""
        if not self.decider.active or self.state.threshold is None:
            return
        name = self.decider.claim
        outcome = self.decider.conclude(self.state.threshold)
        if outcome is not None:
            self._decided(outcome)
            return
        self._show("warning", f"{WARN} The video stopped before {name}'s face was seen: nothing was decided.")
        self.progress.setText("Start the source again, then press Verify.")
        self._tick()

    def cancel(self) -> None:
        if self.decider.active:
            self.decider.cancel()
            self._show("info", "Choose who is claimed, then press Verify.")
            self.progress.setText("")
        self._tick()

    def on_result(self, result: FrameResult) -> list[FaceLabel]:
        """Feed one frame; returns the overlay labels (distance of each face to the claim)."""
        claim = self._claim()
        gallery, threshold = self.state.gallery, self.state.threshold
        if claim is None or gallery is None or threshold is None:
            return []
        name, person_id = claim
        labels: list[FaceLabel] = []
        distances: list[float] = []
        for face in result.faces:
            if face.encoding is None:
                continue
            try:
                match = verify(face.encoding, gallery, person_id, threshold)
            except (UnknownPersonError, ValueError):
                return []
            distances.append(match.distance)
            if match.accepted:
                text, status = f"{OK} {name} {fmt_distance(match.distance)} \u2264 {fmt_distance(threshold)}", "ok"
            else:
                text, status = f"{NO} not {name} {fmt_distance(match.distance)} > {fmt_distance(threshold)}", "bad"
            labels.append(FaceLabel(face.detection.box, text, status))
        if self.decider.active:
            if len(distances) > 1:
                self.progress.setText(f"{WARN} More than one face: only {name} should be in view.")
                return labels
            outcome = self.decider.add(claim_distance(result, gallery, person_id, threshold), threshold)
            if outcome is not None:
                self._decided(outcome)
            elif self.decider.active:
                agreeing, needed = self.decider.progress()
                self.progress.setText(f"{agreeing} of {needed} consistent frames" + ("" if distances else " (no face in view)"))
        return labels

    def _decided(self, outcome: VerifyOutcome) -> None:
        self.last_outcome = outcome
        compare = "\u2264" if outcome.accepted else ">"
        detail = (
            f"distance {fmt_distance(outcome.distance)} {compare} threshold {fmt_distance(outcome.threshold)} "
            f"({outcome.frames} frame{'s' if outcome.frames != 1 else ''})"
        )
        if outcome.accepted:
            self._show("ok", f"{OK} Accepted: {outcome.claim}")
        else:
            why = "" if outcome.consistent else " (the frames did not agree)"
            self._show("bad", f"{NO} Rejected: not {outcome.claim}{why}")
        self.progress.setText(detail)
        person = self.person
        assert person is not None and person.id == outcome.person_id  # every attempt starts in start()
        result = outcome_result(outcome, self.state.source_label)
        self.state.write_event("verify", lambda db: log_verification(db, person, result))
        self.decided.emit(outcome)
        self._tick()

    def _tick(self) -> None:
        left = self.decider.locked_for()
        if left > 0:
            self.verify_button.setEnabled(False)
            self.lock_label.setText(
                f"{LOCK} Verification is locked for {left:.0f} s after {self.decider.max_rejections} rejections in a row."
            )
            self.lock_label.show()
            if not self._timer.isActive():
                self._timer.start()
            return
        self._timer.stop()
        self.lock_label.setText("")
        self.lock_label.hide()
        self.verify_button.setEnabled(not self.decider.active and self.claim_box.count() > 0)

    @property
    def locked(self) -> bool:
        return self.decider.locked_for() > 0

    def _show(self, kind: str, text: str) -> None:
        self.icon.setProperty("kind", kind)
        self.icon.setPixmap(status_icon(kind).pixmap(32, 32))
        self.status.setText(text)
