"""Small shared GUI pieces: decision symbols and icons, image conversions, the message bar."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QPushButton, QStyle, QVBoxLayout, QWidget

# Decisions are always shown with a symbol and words, never by colour alone.
OK = "\u2714"  # ✔
NO = "\u2716"  # ✖
UNKNOWN = "?"
WARN = "\u26a0"  # ⚠
LOCK = "\u23f3"  # ⏳

_ICONS = {
    "ok": QStyle.StandardPixmap.SP_DialogApplyButton,
    "bad": QStyle.StandardPixmap.SP_DialogCancelButton,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "unknown": QStyle.StandardPixmap.SP_MessageBoxQuestion,
}


def status_icon(kind: str) -> QIcon:
    """A standard style icon for a decision or message kind ("ok", "bad", "warning", ...)."""
    return QApplication.style().standardIcon(_ICONS.get(kind, _ICONS["info"]))


def fmt_distance(distance: float | None) -> str:
    if distance is None or not math.isfinite(distance):
        return "-"
    return f"{distance:.3f}"  # thresholds of a weak model can be ~0.01


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """A detached QImage copy of an RGB uint8 array."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888).copy()


def rgb_to_pixmap(image: np.ndarray, side: int | None = None) -> QPixmap:
    pixmap = QPixmap.fromImage(rgb_to_qimage(image))
    if side:
        pixmap = pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pixmap


class MessageBar(QWidget):
    """A strip above the video for messages that need attention, with optional action buttons.

    ``text()`` and ``kind`` stay readable for tests; ``clear()`` hides it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = ""
        self._icon = QLabel()
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._buttons: list[QPushButton] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.addWidget(self._icon)
        self._layout.addWidget(self._label, 1)
        self.setAutoFillBackground(True)
        self.hide()

    def show_message(self, kind: str, text: str, actions: list[tuple[str, Callable[[], Any]]] | None = None) -> None:
        """``kind``: "info", "warning" or "error"; ``actions``: (button text, callback) pairs."""
        self.kind = kind
        prefix = {"warning": WARN + " ", "error": NO + " "}.get(kind, "")
        self._label.setText(prefix + text)
        self._icon.setPixmap(status_icon(kind).pixmap(20, 20))
        for button in self._buttons:  # hidden now: deleteLater waits for the event loop
            self._layout.removeWidget(button)
            button.hide()
            button.deleteLater()
        self._buttons = []
        for caption, callback in actions or []:
            button = QPushButton(caption)
            button.clicked.connect(callback)
            self._layout.addWidget(button)
            self._buttons.append(button)
        colours = {"error": "#fde2e1", "warning": "#fff4ce", "info": "#e5f1fb"}
        self.setStyleSheet(f"MessageBar {{ background: {colours.get(kind, '#e5f1fb')}; }} QLabel {{ color: black; }}")
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self._label.text()

    def button_texts(self) -> list[str]:
        return [b.text() for b in self._buttons]

    def clear(self, kind: str | None = None) -> None:
        """Hide the bar (only if it shows a message of ``kind``, when given)."""
        if kind is None or kind == self.kind:
            self.kind = ""
            self._label.setText("")
            self.hide()


class MessageArea(QWidget):
    """A stack of MessageBars, one per topic ("model", "source", "database", ...), so a
    message about the camera does not hide one about the model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars: dict[str, MessageBar] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(1)

    def show_message(
        self, topic: str, kind: str, text: str, actions: list[tuple[str, Callable[[], Any]]] | None = None
    ) -> None:
        bar = self._bars.get(topic)
        if bar is None:
            bar = self._bars[topic] = MessageBar(self)
            self._layout.addWidget(bar)
        bar.show_message(kind, text, actions)

    def clear(self, topic: str) -> None:
        if topic in self._bars:
            self._bars[topic].clear()

    def text(self, topic: str) -> str:
        bar = self._bars.get(topic)
        return "" if bar is None else bar.text()

    def kind(self, topic: str) -> str:
        bar = self._bars.get(topic)
        return "" if bar is None else bar.kind

    def buttons(self, topic: str) -> list[str]:
        bar = self._bars.get(topic)
        return [] if bar is None else bar.button_texts()

    def texts(self) -> dict[str, str]:
        return {topic: bar.text() for topic, bar in self._bars.items() if bar.text()}
