"""One person's templates, each shown with the face crop it was made from: remove a poor one.

A template enrolled from a bad likeness (a blurred shot, someone else in the frame) or a
damaged row weakens every later match of that person; this is where it is found and removed
without deleting the person, or, when it is someone else's face, moved to them.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ..app import TemplateInfo
from ..app.corrections import move_template, plan_move
from ..errors import FaceAppError, StoreError
from .common import WARN
from .state import AppState

CROP_ICON = 72


def short_source(source: str) -> str:
    """A photo path cut to its folder and file name (the tooltip has all of it); a camera or
    stream description as it is."""
    if "://" in source or not any(sep in source for sep in "/\\"):
        return source
    parts = PureWindowsPath(source).parts if "\\" in source else PurePosixPath(source).parts
    return source if len(parts) <= 3 else "\u2026/" + "/".join(parts[-2:])


def describe_template(template: TemplateInfo, model_id: str | None) -> str:
    """Two lines for the list: when and where from, then whether matching uses it."""
    when = template.created_at[:16].replace("T", " ") or "unknown date"
    first = f"Enrolled {when} UTC from {short_source(template.source) or 'an unknown source'}"
    second = {
        "damaged": f"{WARN} damaged: never matched; remove it",
        "unknown": "no model loaded: cannot tell whether matching uses it",
        "other model": f"{WARN} made by another model ({template.model_id}): not used until re-encoded",
        "in use": "In use",
    }[template.state(model_id)]
    return f"{first}\n{second}"


class TemplatesDialog(QDialog):
    def __init__(self, state: AppState, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.name = name
        self.setWindowTitle(f"Templates of {name}")
        self.summary = QLabel()
        self.list = QListWidget()
        self.list.setIconSize(QSize(CROP_ICON, CROP_ICON))
        self.list.setSpacing(2)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.move_button = QPushButton("Move to…")
        self.move_button.setToolTip("Someone else's face, enrolled under this name: give the template to them")
        self.move_button.clicked.connect(lambda: self.move_selected())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.move_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self._no_crop = self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView)
        self.resize(620, 420)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        templates: list[TemplateInfo] = []
        if self.state.db is not None:
            try:
                templates = self.state.db.templates(self.name)
            except StoreError as exc:
                self.state.error.emit(f"Cannot list the templates of {self.name}: {exc}")
        model_id = self.state.info.model_id if self.state.info is not None else None
        for template in templates:
            item = QListWidgetItem(self._icon(template), describe_template(template, model_id))
            item.setData(Qt.ItemDataRole.UserRole, template.id)
            item.setToolTip(template.source)
            self.list.addItem(item)
        self.list.setCurrentRow(-1)  # nothing looks chosen until the user picks a template
        count = len(templates)
        if count:
            self.summary.setText(f"{self.name} has {count} template{'s' if count != 1 else ''}. "
                                 "Remove one that was enrolled from a poor likeness or is damaged.")
        else:
            self.summary.setText(f"{WARN} {self.name} has no templates left, so nothing to match: add photos "
                                 "of them (People tab, Add photos…) or delete them.")
        self._update_buttons()

    def _icon(self, template: TemplateInfo) -> QIcon:
        if template.has_crop and self.state.db is not None:
            try:
                data = self.state.db.template_crop(self.name, template.id)
            except StoreError:
                data = None
            pixmap = QPixmap()
            if data and pixmap.loadFromData(data):
                return QIcon(pixmap)
        return self._no_crop  # enrolled before crops were kept, or the crop does not decode

    def template_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.state.db is not None and bool(self.list.selectedItems()))
        self.move_button.setEnabled(self.state.db is not None and bool(self.list.selectedItems()))

    def remove_selected(self) -> bool:
        """Remove the template the user picked (never just the one under the focus), after asking."""
        picked = self.list.selectedItems()
        if not picked or self.state.db is None:
            return False
        item = picked[0]
        template_id = int(item.data(Qt.ItemDataRole.UserRole))
        after = (f"{self.name} stays enrolled with their other templates." if self.list.count() > 1 else
                 f"It is {self.name}'s last one: they stay enrolled by name but cannot be recognised "
                 "until photos of them are added again.")
        answer = QMessageBox.question(
            self,
            "Remove template",
            f"Remove this template of {self.name}?\n\n{item.text()}\n\nThis cannot be undone. {after}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.state.db.remove_template(self.name, template_id)
        except StoreError as exc:
            self.state.action_failed.emit(f"Cannot remove the template of {self.name}: {exc}")
            return False
        self.state.changed_people()
        self.refresh()
        return True

    def move_selected(self) -> bool:
        """Move the picked template to another person the user chooses, after saying what moves
        where (the application layer's plan); the move is one transaction and is logged."""
        picked = self.list.selectedItems()
        if not picked or self.state.db is None:
            return False
        template_id = int(picked[0].data(Qt.ItemDataRole.UserRole))
        others = [p.name for p in self.state.people() if p.name != self.name]
        if not others:
            self.state.action_failed.emit(f"Cannot move the template of {self.name}: nobody else is enrolled")
            return False
        other, ok = QInputDialog.getItem(self, "Move template", f"Move this template of {self.name} to:", others, 0, False)
        if not ok or not other:
            return False
        try:
            plan = plan_move(self.state.db, self.name, template_id, other)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot move the template of {self.name}: {exc}")
            return False
        answer = QMessageBox.question(
            self,
            "Move template",
            f"{plan.describe()[0].upper()}{plan.describe()[1:]}?\n\nIts face crop goes with it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            move_template(self.state.db, plan)
        except FaceAppError as exc:
            self.state.action_failed.emit(f"Cannot move the template of {self.name}: {exc}")
            return False
        self.state.changed_people()
        self.refresh()
        return True
