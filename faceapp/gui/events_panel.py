"""The events log: the newest verify / identify / enroll decisions from the database."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from .common import fmt_distance, status_icon
from .state import AppState

COLUMNS = ("Time", "Kind", "Name", "Decision", "Distance", "Source")


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
        layout.addWidget(self.table)
        state.events_changed.connect(self.refresh)

    def refresh(self) -> None:
        events = self.state.events(self.limit)
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
                self.table.setItem(row, col, item)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and copying)."""
        return [
            tuple(self.table.item(r, c).text() if self.table.item(r, c) else "" for c in range(self.table.columnCount()))
            for r in range(self.table.rowCount())
        ]
