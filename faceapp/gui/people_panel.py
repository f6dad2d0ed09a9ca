"""Enrolled people with thumbnails and template counts: rename, add photos, review templates,
merge two entries of one person, delete."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ..app import PersonInfo
from ..app.corrections import merge_people, plan_merge
from ..errors import FaceAppError, StoreError
from .common import WARN
from .state import AppState
from .templates_dialog import TemplatesDialog

THUMB = 56


class PeoplePanel(QWidget):
    add_photos_requested = Signal(str)  # a person's name
    enroll_requested = Signal()

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.enroll_button = QPushButton("Enroll…")
        self.rename_button = QPushButton("Rename…")
        self.add_button = QPushButton("Add photos…")
        self.templates_button = QPushButton("Templates…")
        self.merge_button = QPushButton("Merge into…")
        self.merge_button.setToolTip("Two entries of one person: move this one's templates and events to the other")
        self.delete_button = QPushButton("Delete…")
        self.enroll_button.clicked.connect(self.enroll_requested.emit)
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.add_button.clicked.connect(self._add_photos)
        self.templates_button.clicked.connect(lambda: self.show_templates())
        self.merge_button.clicked.connect(lambda: self.merge_selected())
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        buttons = QHBoxLayout()
        for b in (self.enroll_button, self.rename_button, self.add_button, self.templates_button, self.merge_button,
                  self.delete_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._placeholder = self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView)
        state.people_changed.connect(self.refresh)
        self._update_buttons()

    def refresh(self) -> None:
        current = self.selected_name()
        self.list.clear()
        for person in self.state.people():
            item = QListWidgetItem(self._icon(person), self._describe(person))
            item.setData(Qt.ItemDataRole.UserRole, person.name)
            self.list.addItem(item)
            if person.name == current:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def _describe(self, person: PersonInfo) -> str:
        usable = self.state.usable_templates(person.id)
        text = f"{person.name}\n{person.templates} template{'s' if person.templates != 1 else ''}"
        if not person.templates:
            text += f"  ({WARN} nothing to match: add photos)"
        elif self.state.info is not None and usable < person.templates:
            unused = person.templates - usable
            text += f"  ({WARN} {unused} not used: made by another model, or damaged)"
        return text

    def _icon(self, person: PersonInfo) -> QIcon:
        if person.has_thumbnail and self.state.db is not None:
            try:
                data = self.state.db.thumbnail(person.name)
            except StoreError:
                data = None
            pixmap = QPixmap()
            if data and pixmap.loadFromData(data):
                return QIcon(pixmap)
        return self._placeholder

    def names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _update_buttons(self) -> None:
        has_db = self.state.db is not None
        selected = self.selected_name() is not None
        self.enroll_button.setEnabled(has_db)
        for b in (self.rename_button, self.add_button, self.templates_button, self.delete_button):
            b.setEnabled(has_db and selected)
        self.merge_button.setEnabled(has_db and selected and self.list.count() > 1)

    def _add_photos(self) -> None:
        name = self.selected_name()
        if name:
            self.add_photos_requested.emit(name)

    def show_templates(self) -> TemplatesDialog | None:
        """Open (without blocking) the selected person's templates, to review or remove them."""
        name = self.selected_name()
        if name is None or self.state.db is None:
            return None
        dialog = TemplatesDialog(self.state, name, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def rename_selected(self) -> bool:
        name = self.selected_name()
        if name is None or self.state.db is None:
            return False
        new, ok = QInputDialog.getText(self, "Rename", f"New name for {name}:", QLineEdit.EchoMode.Normal, name)
        if not ok or not new.strip() or new.strip() == name:
            return False
        try:
            _, renamed = self.state.db.rename(name, new)  # as kept: cleaned, as the list shows it
        except StoreError as exc:
            self.state.action_failed.emit(f"Cannot rename {name}: {exc}")
            return False
        self.state.changed_people()
        self.select(renamed)
        return True

    def delete_selected(self) -> bool:
        name = self.selected_name()
        if name is None or self.state.db is None:
            return False
        answer = QMessageBox.question(
            self,
            "Delete person",
            f"Delete {name} and all of their face templates?\n\nThis cannot be undone. "
            "Past events stay in the log under this name.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.state.db.delete(name)
        except StoreError as exc:
            self.state.action_failed.emit(f"Cannot delete {name}: {exc}")
            return False
        self.state.changed_people()
        return True

    def merge_selected(self) -> bool:
        """Merge the selected person into one the user chooses, after saying the direction in
        full (the application layer's plan); the merge is one transaction and is logged."""
        name = self.selected_name()
        if name is None or self.state.db is None:
            return False
        others = [n for n in self.names() if n != name]
        if not others:
            return False
        target, ok = QInputDialog.getItem(self, "Merge into", f"Merge {name} into:", others, 0, False)
        if not ok or not target:
            return False
        try:
            plan = plan_merge(self.state.db, name, target)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot merge {name}: {exc}")
            return False
        answer = QMessageBox.question(
            self,
            "Merge people",
            f"{plan.describe()[0].upper()}{plan.describe()[1:]}.\n\nThis cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            merge_people(self.state.db, plan)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot merge {name}: {exc}")
            return False
        self.state.changed_people()
        self.select(plan.target)
        return True
