"""Identify mode: every face gets a name or "Unknown"; each person seen is logged once per interval."""

from __future__ import annotations

import math
from datetime import datetime

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ..types import FrameResult
from .common import OK, UNKNOWN, fmt_distance, status_icon
from .decisions import SightingLogger
from .state import AppState
from .video_view import FaceLabel

MAX_ROWS = 200


def identify_labels(result: FrameResult) -> list[FaceLabel]:
    """'✔ Alice 0.52' for a match within the threshold, '? Unknown 1.10' otherwise."""
    labels = []
    for face in result.faces:
        match = face.match
        if match.name is not None and match.accepted:
            labels.append(FaceLabel(face.detection.box, f"{OK} {match.name} {fmt_distance(match.distance)}", "ok"))
        else:
            distance = "" if not math.isfinite(match.distance) else f" {fmt_distance(match.distance)}"
            labels.append(FaceLabel(face.detection.box, f"{UNKNOWN} Unknown{distance}", "unknown"))
    return labels


class IdentifyPanel(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.logger = SightingLogger(state.prefs.sighting_interval_s)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.seen = QListWidget()
        self.seen.setIconSize(QSize(16, 16))
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.seen, 1)
        self.apply_prefs()
        state.people_changed.connect(self._prune)

    def apply_prefs(self) -> None:
        self.logger.interval_s = self.state.prefs.sighting_interval_s
        self.heading.setText(
            "Every face is labelled with a name or Unknown and its distance. "
            f"People seen are logged once every {self.logger.interval_s:g} s:"
        )

    def on_result(self, result: FrameResult) -> list[FaceLabel]:
        for face in result.faces:
            match = face.match
            if match.person_id is None or not match.accepted or not self.logger.due(match.person_id):
                continue
            self.state.log_event(
                "identify", name=match.name, person_id=match.person_id, decision="seen", distance=match.distance
            )
            stamp = datetime.now().strftime("%H:%M:%S")
            item = QListWidgetItem(status_icon("ok"), f"{match.name} at {stamp} (distance {fmt_distance(match.distance)})")
            self.seen.insertItem(0, item)
            while self.seen.count() > MAX_ROWS:
                self.seen.takeItem(self.seen.count() - 1)
        return identify_labels(result)

    def _prune(self) -> None:
        """Forget people who were deleted: their id may be given to someone new."""
        self.logger.keep_only({person.id for person in self.state.people()})
