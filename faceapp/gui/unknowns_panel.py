""""Who is this?": the remembered unknown faces (anonymous groups of sightings), each with how
often, when and where it was seen and its kept crops, to be named (enrolled as a new person or
added to one) or forgotten. Every step goes through :mod:`faceapp.app.unknowns`."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.unknowns import (UnknownGroupInfo, forget_unknown, list_unknowns, name_unknown, naming_doubt,
                            unknown_crops)
from ..errors import FaceAppError
from .events_panel import local_time
from .state import AppState

THUMB = 56


class UnknownsPanel(QWidget):
    """The list of unknown groups, and the crops of the one selected."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.list = QListWidget()
        self.list.currentItemChanged.connect(lambda *_: self._show_selected())
        self.crops = QListWidget()  # the selected group's faces, as thumbnails
        self.crops.setViewMode(QListWidget.ViewMode.IconMode)
        self.crops.setIconSize(QSize(THUMB, THUMB))
        self.crops.setMaximumHeight(THUMB + 24)
        self.empty_label = QLabel("No unknown faces remembered (Settings: remember unknown faces)")
        self.refresh_button = QPushButton("Refresh")
        self.name_button = QPushButton("Name…")
        self.name_button.setToolTip("Enroll these faces: a new person, or added to someone enrolled")
        self.forget_button = QPushButton("Forget…")
        self.forget_button.setToolTip("Erase this unknown face and every sighting of it")
        self.refresh_button.clicked.connect(self.refresh)
        self.name_button.clicked.connect(lambda: self.name_selected())
        self.forget_button.clicked.connect(lambda: self.forget_selected())
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.name_button, self.forget_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.list)
        layout.addWidget(self.crops)
        layout.addLayout(buttons)
        # A remembered face is logged with its identify event, so the list follows the log.
        state.events_changed.connect(self.refresh)
        state.people_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        current = self.selected_group()
        self.list.clear()
        groups: list[UnknownGroupInfo] = self.state.read(list_unknowns, [])
        for group in groups:
            item = QListWidgetItem(describe(group))
            item.setData(Qt.ItemDataRole.UserRole, group.id)
            self.list.addItem(item)
            if group.id == current:
                self.list.setCurrentItem(item)
        self.empty_label.setVisible(not groups)
        self._show_selected()

    def group_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def select(self, group_id: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == group_id:
                self.list.setCurrentRow(i)

    def selected_group(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _show_selected(self) -> None:
        """The selected group's crops as thumbnails, and the buttons it allows."""
        group = self.selected_group()
        self.crops.clear()
        if group is not None:
            for data in self.state.read(lambda db: unknown_crops(db, group), []):
                pixmap = QPixmap()
                if pixmap.loadFromData(data):
                    self.crops.addItem(QListWidgetItem(QIcon(pixmap), ""))
        self.name_button.setEnabled(group is not None)
        self.forget_button.setEnabled(group is not None)

    def name_selected(self) -> bool:
        """Ask who it is (a new name, or someone enrolled) and enroll the group's faces."""
        group = self.selected_group()
        if group is None or self.state.db is None or self.state.info is None:
            return False
        names = [p.name for p in self.state.people()]
        name, ok = QInputDialog.getItem(self, "Who is this?", f"Unknown {group} is (a new name, or someone enrolled):",
                                        ["", *names], 0, True)
        if not ok or not name.strip():
            return False
        info, threshold = self.state.info, self.state.threshold
        try:
            doubt = (naming_doubt(self.state.db, group, name, info.model_id, threshold, info.cohort)
                     if threshold is not None else None)
            if doubt and QMessageBox.question(
                    self, "Who is this?", f"{doubt[0].upper()}{doubt[1:]}.\n\nAdd them to {name.strip()} anyway?",
                    QMessageBox.Yes | QMessageBox.No, QMessageBox.No) != QMessageBox.Yes:
                return False
            named = name_unknown(self.state.db, group, name, info.model_id)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot name unknown {group}: {exc}")
            return False
        self.state.changed_people()  # the gallery reloads; the lists refresh
        return named.faces > 0

    def forget_selected(self) -> bool:
        """Erase the selected group and its sightings, after asking."""
        group = self.selected_group()
        if group is None or self.state.db is None:
            return False
        answer = QMessageBox.question(
            self, "Forget unknown face", f"Forget Unknown {group} and every sighting of it?\n\nThis cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            forget_unknown(self.state.db, group)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot forget unknown {group}: {exc}")
            return False
        self.refresh()
        return True


def describe(group: UnknownGroupInfo) -> str:
    """'Unknown 7: seen 5 times', then first and last seen (local time) and where."""
    times = "once" if group.sightings == 1 else f"{group.sightings} times"
    where = ", ".join(group.sources) or "source unknown"
    return (f"Unknown {group.id}: seen {times}\nfirst {local_time(group.first_seen)}, "
            f"last {local_time(group.last_seen)}\nat {where}")
