"""The events log: the newest events from the database, filtered by person, day and kind (the
application layer's :mod:`faceapp.app.events`), exported as CSV with the same filters, and a
sighting that named the wrong person corrected ("Not this person", :mod:`faceapp.app.corrections`)."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..app.corrections import not_this_person
from ..app.events import EVENT_KINDS, export_events, list_events  # the kinds the log records, as the app layer checks them
from ..errors import FaceAppError
from .common import fmt_distance, status_icon
from .state import AppState

COLUMNS = ("Time", "Kind", "Name", "Decision", "Distance", "Source")
ANYONE, ANY_KIND = "Anyone", "Any kind"


def local_time(iso: str) -> str:
    """Stored UTC ISO time -> local 'YYYY-MM-DD HH:MM:SS'."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return iso or ""


def decision_kind(decision: str) -> str:
    text = (decision or "").lower()
    if text.startswith("rejected"):
        return "bad"
    # "seen": identify events logged by earlier versions of the window
    if text.startswith("accepted") or text in ("recognised", "seen") or text.startswith("new person") or text.startswith("added"):
        return "ok"
    return "info"


class EventsPanel(QWidget):
    def __init__(self, state: AppState, limit: int = 200) -> None:
        super().__init__()
        self.state = state
        self.limit = limit
        self.person_box = QComboBox()
        self.person_box.setToolTip("Only this person's events (under this name, or of whoever carries it now)")
        self.kind_box = QComboBox()
        self.kind_box.addItems([ANY_KIND, *EVENT_KINDS])
        self.since_check = QCheckBox("Since")
        self.since_edit = QDateEdit(QDate.currentDate())
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setEnabled(False)
        self.since_check.toggled.connect(self.since_edit.setEnabled)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Every event the filters select, oldest first, into a new CSV file")
        self.export_button.clicked.connect(self._ask_export)
        self.not_this_button = QPushButton("Not this person…")
        self.not_this_button.setToolTip("The selected sighting named the wrong person: it names nobody from then on")
        self.not_this_button.clicked.connect(lambda: self.correct_selected())
        for signal in (self.person_box.currentIndexChanged, self.kind_box.currentIndexChanged,
                       self.since_check.toggled, self.since_edit.dateChanged):
            signal.connect(lambda *_: self.refresh())
        filters = QHBoxLayout()
        for widget in (self.person_box, self.kind_box, self.since_check, self.since_edit):
            filters.addWidget(widget)
        filters.addStretch(1)
        filters.addWidget(self.not_this_button)
        filters.addWidget(self.export_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        self._fill_people()
        state.events_changed.connect(self.refresh)
        state.people_changed.connect(self._fill_people)

    def _fill_people(self) -> None:
        """The enrolled names to filter by, keeping the chosen one while it still exists."""
        chosen = self.person_box.currentText()
        self.person_box.blockSignals(True)
        self.person_box.clear()
        self.person_box.addItems([ANYONE, *(p.name for p in self.state.people())])
        index = self.person_box.findText(chosen)
        self.person_box.setCurrentIndex(max(index, 0))
        self.person_box.blockSignals(False)
        self.refresh()

    def set_filters(self, person: str | None = None, kind: str | None = None, since_day: QDate | None = None) -> None:
        """Choose the filters as a user would (None: no filter of that sort)."""
        self.person_box.setCurrentIndex(max(self.person_box.findText(person), 0) if person else 0)
        self.kind_box.setCurrentIndex(max(self.kind_box.findText(kind), 0) if kind else 0)
        if since_day is not None:
            self.since_edit.setDate(since_day)
        self.since_check.setChecked(since_day is not None)

    def filters(self) -> dict:
        """The chosen filters as :func:`faceapp.app.events.list_events` takes them; a day is
        from its local midnight."""
        person = self.person_box.currentText()
        kind = self.kind_box.currentText()
        since = None
        if self.since_check.isChecked():
            since = datetime.combine(self.since_edit.date().toPython(), time()).astimezone()
        return {"person": None if person in ("", ANYONE) else person,
                "kind": None if kind == ANY_KIND else kind, "since": since}

    def refresh(self) -> None:
        events = self.state.read(lambda db: list_events(db, limit=self.limit, **self.filters()), [])
        self.table.setRowCount(len(events))
        for row, event in enumerate(events):
            decision = event.get("decision") or ""
            kind = decision_kind(decision)
            cells = (
                local_time(event.get("at", "")),
                event.get("kind") or "",
                event.get("name") or "",
                decision,  # the icon marks accepted / rejected; a tick in the text too would say it twice
                fmt_distance(event.get("distance")),
                event.get("source") or "",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 3 and kind in ("ok", "bad"):
                    item.setIcon(status_icon(kind))
                item.setData(Qt.ItemDataRole.UserRole, event)
                self.table.setItem(row, col, item)
        self._update_buttons()

    def selected_event(self) -> dict | None:
        """The event of the selected row, as the application layer listed it, or None."""
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        item = self.table.item(rows.pop(), 0)
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def select_row(self, row: int) -> None:
        """Select one row as a user's click would."""
        self.table.selectRow(row)

    def _update_buttons(self) -> None:
        event = self.selected_event()
        # Only a sighting that named someone can be "not this person".
        self.not_this_button.setEnabled(bool(event and event.get("kind") == "identify" and event.get("name")))

    def correct_selected(self) -> bool:
        """Say the selected sighting was not the person it named, after asking; the
        correction is one transaction and is itself logged."""
        event = self.selected_event()
        if not event or self.state.db is None or not self.not_this_button.isEnabled():
            return False
        answer = QMessageBox.question(
            self, "Not this person",
            f"The sighting at {local_time(event.get('at', ''))} was not {event['name']}?\n\n"
            "It will name nobody, and the correction is logged.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            not_this_person(self.state.db, event["id"])
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot correct that sighting: {exc}")
            return False
        self.state.events_changed.emit()
        return True

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and copying)."""
        return [
            tuple(self.table.item(r, c).text() if self.table.item(r, c) else "" for c in range(self.table.columnCount()))
            for r in range(self.table.rowCount())
        ]

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export events", "events.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> int | None:
        """Every event the filters select into a new CSV file; the count, or None (said in the
        message bar) when it cannot be written, e.g. a file is there already."""
        if self.state.db is None:
            self.state.action_failed.emit("Cannot export events: no database is open")
            return None
        try:
            count = export_events(self.state.db, path, **self.filters())
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot export events: {exc}")
            return None
        return count
