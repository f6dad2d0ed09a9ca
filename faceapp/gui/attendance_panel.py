"""Attendance: who came to the running (or the last) session, with first and last seen times and
whether it is sure ("present") or a close call ("to confirm"), from the application layer's
:mod:`faceapp.app.attendance`, the same use-case as ``faceapp identify --session``; and its CSV."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..app.attendance import PRESENT, AttendanceError, AttendanceRow, attendance, write_attendance_csv
from ..errors import FaceAppError
from .common import status_icon
from .events_panel import local_time
from .state import AppState

COLUMNS = ("Name", "First seen", "Last seen", "Status")


class AttendancePanel(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("This session's list (name, first seen, last seen, status) into a new CSV file")
        self.export_button.clicked.connect(self._ask_export)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.export_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)
        state.session_changed.connect(self.refresh)
        state.events_changed.connect(self.refresh)
        self.refresh()

    def attendance_rows(self) -> list[AttendanceRow]:
        """The session's rows as the application layer gives them; none before anyone is marked."""
        name = self.state.session_label
        if not name or self.state.db is None:
            return []
        try:
            return self.state.read(lambda db: attendance(db, name), [])
        except AttendanceError:
            return []  # nobody marked yet

    def refresh(self) -> None:
        name = self.state.session_label
        rows = self.attendance_rows()
        if not name:
            self.heading.setText("No session yet: in Identify mode, \u201cStart session\u2026\u201d takes attendance.")
        else:
            running = "running" if self.state.session is not None else "ended"
            self.heading.setText(f"Session \u201c{name}\u201d ({running}): {len(rows)} "
                                 f"{'person' if len(rows) == 1 else 'people'} marked")
        self.export_button.setEnabled(bool(rows))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (row.name, local_time(row.first_seen), local_time(row.last_seen), row.status)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 3:
                    item.setIcon(status_icon("ok" if row.status == PRESENT else "info"))
                self.table.setItem(r, c, item)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and copying)."""
        return [tuple(self.table.item(r, c).text() for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]

    def _ask_export(self) -> None:
        default = f"{self.state.session_label or 'attendance'}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export attendance", default, "CSV files (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> int | None:
        """The session's list into a new CSV file; the count, or None (said in the message bar)
        when there is nothing to write or the file cannot be written."""
        rows = self.attendance_rows()
        if not rows:
            self.state.action_failed.emit("Cannot export attendance: nobody is marked in a session yet")
            return None
        try:
            return write_attendance_csv(rows, path)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot export attendance: {exc}")
            return None
