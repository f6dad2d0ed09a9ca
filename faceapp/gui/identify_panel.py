"""Identify mode: every face gets its track's name or "Unknown"; a sighting is logged when someone
arrives and when they leave, by the application layer's rule
(:class:`faceapp.app.recognition.SightingRule`), the same as ``faceapp identify``. "Start session…"
takes attendance from the same arrivals, as ``faceapp identify --session`` does."""

from __future__ import annotations

import math
from datetime import datetime

from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.recognition import SightingRule
from ..types import FrameResult
from .common import OK, UNKNOWN, fmt_distance, status_icon
from .state import AppState
from .video_view import FaceLabel

MAX_ROWS = 200


def identify_labels(result: FrameResult) -> list[FaceLabel]:
    """'✔ Alice 0.52' for a match within the threshold, '? Unknown 1.10' otherwise. A tracked
    face shows its track's decision, so the label holds steady while the face turns or is
    covered; the tooltip says why (:func:`explain`)."""
    labels = []
    for face in result.faces:
        match = face.match
        if match.name is not None and match.accepted:
            labels.append(FaceLabel(face.detection.box, f"{OK} {match.name} {fmt_distance(match.distance)}", "ok",
                                    explain(match)))
        else:
            distance = "" if not math.isfinite(match.distance) else f" {fmt_distance(match.distance)}"
            labels.append(FaceLabel(face.detection.box, f"{UNKNOWN} Unknown{distance}", "unknown", explain(match)))
    return labels


_REASONS = {  # faceapp.decide's reasons, as the tooltip says them
    "too far": "no enrolled person is close enough",
    "ambiguous": "two enrolled people are about as close: no guess",
    "quality": "the face is too small, blurred, turned or covered to judge",
    "gathering": "still gathering evidence",
    "nobody enrolled": "nobody is enrolled",
}


def explain(match) -> str:
    """The tooltip of a face: distance and threshold, the runner-up, quality, track, and the
    reason for Unknown. Plain matches (without an explanation) get the distance alone."""
    lines = [f"distance {fmt_distance(match.distance)}"]
    threshold = getattr(match, "threshold", None)
    if threshold is not None and math.isfinite(threshold):
        lines[0] += f" (threshold {fmt_distance(threshold)})"
    runner_up = getattr(match, "runner_up", None)
    if runner_up is not None:
        lines.append(f"runner-up: {runner_up} {fmt_distance(match.runner_up_distance)}")
    quality = getattr(match, "quality", None)
    if quality is not None:
        lines.append(f"quality {quality:.2f}")
    learned = getattr(match, "learned_quality", None)
    if learned is not None:
        lines.append(f"the encoder's own quality {learned:.2f}")
    track = getattr(match, "track", None)
    if track is not None:
        lines.append(f"track {track}, {match.evidence} frame{'s' if match.evidence != 1 else ''} of evidence")
    reason = getattr(match, "reason", "match")
    if not match.accepted and reason in _REASONS:
        lines.append(_REASONS[reason])
    return "\n".join(lines)


def seen_at(iso: str) -> str:
    """An event's stored UTC time as the local clock time, e.g. '14:05:09'."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except (TypeError, ValueError):
        return datetime.now().strftime("%H:%M:%S")


class IdentifyPanel(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.rule = SightingRule(state.config.sighting_interval_s, photos=False)
        self._enrolled: set[int] = set()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.seen = QListWidget()
        self.seen.setIconSize(QSize(16, 16))
        self.session_button = QPushButton()
        self.session_button.clicked.connect(lambda: self.toggle_session())
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.session_button)
        layout.addWidget(self.seen, 1)
        self.apply_config()
        state.config_changed.connect(self.apply_config)
        state.source_changed.connect(self.new_source)
        state.people_changed.connect(self._people_changed)
        state.session_changed.connect(self._show_session)
        self._show_session()

    def apply_config(self) -> None:
        self.rule.interval_s = self.state.config.sighting_interval_s
        self.heading.setText(
            "Every face is followed from frame to frame and labelled with its track's name or Unknown "
            "and the distance (hover over a face for why). A person is logged once when they arrive, "
            "and once more when they leave, with how long they stayed (unknown faces too, in the "
            "Events tab). People seen:"
        )

    def new_source(self) -> None:
        """Another source (or the same one again): its times start afresh, so everyone in it arrives anew."""
        self.rule.forget()

    def on_result(self, result: FrameResult) -> list[FaceLabel]:
        for event in reversed(self.state.log_sightings(result, self.rule)):  # oldest first: newest ends on top
            if event.get("decision") != "recognised":
                continue  # an unknown face: in the events log, not in this list of people
            item = QListWidgetItem(status_icon("ok"), f"{event.get('name')} at {seen_at(event.get('at', ''))} "
                                                      f"(distance {fmt_distance(event.get('distance'))})")
            self.seen.insertItem(0, item)
            while self.seen.count() > MAX_ROWS:
                self.seen.takeItem(self.seen.count() - 1)
        return identify_labels(result)

    def _people_changed(self) -> None:
        """Someone deleted (or another database): their id may be given to someone new, who must
        not pass for someone already seen, so the rule starts afresh; everyone in view is then
        logged once more, which is the lesser harm."""
        enrolled = {person.id for person in self.state.people()}
        if self._enrolled - enrolled:
            self.rule.forget()
        self._enrolled = enrolled

    def _show_session(self) -> None:
        running = self.state.session
        self.session_button.setText("Start session…" if running is None else f"End session “{running.name}”")
        self.session_button.setToolTip("Mark each person once as they arrive, with first and last seen (Attendance tab)"
                                       if running is None else "Stop taking attendance; the list stays")

    def toggle_session(self) -> bool:
        """Start a session under a name the user gives, or end the running one; True when it changed."""
        if self.state.session is not None:
            self.state.end_session()
            return True
        name, ok = QInputDialog.getText(self, "Start session", "Session name (e.g. Lecture 5):", QLineEdit.EchoMode.Normal)
        return bool(ok and name.strip()) and self.state.start_session(name)
