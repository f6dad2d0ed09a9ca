"""The live video: frames with a box and a label per face, drawn with QPainter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QHelpEvent, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from .common import rgb_to_qimage

# Colour only repeats what the label's symbol and words say; unknown faces also get a dashed box.
_COLOURS = {
    "ok": QColor(40, 170, 70),
    "bad": QColor(220, 50, 40),
    "unknown": QColor(240, 170, 20),
    "info": QColor(60, 140, 230),
}


@dataclass(frozen=True)
class FaceLabel:
    """What to draw for one face: its box (x, y, w, h), a text such as "✔ Alice 0.52", and a
    status ("ok", "bad", "unknown" or "info") that picks the colour and line style."""

    box: tuple[float, float, float, float]
    text: str
    status: str = "info"
    tooltip: str = ""  # shown when the mouse rests on the face: why it got its label


def render_overlay(image: np.ndarray, labels: list[FaceLabel]) -> QImage:
    """The RGB frame as a QImage with every label drawn on it (at the frame's own resolution)."""
    qimage = rgb_to_qimage(image)
    if not labels:
        return qimage
    painter = QPainter(qimage)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = qimage.height()
        font = QFont()
        font.setPixelSize(max(12, h // 32))
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        line = max(2.0, h / 240)
        for label in labels:
            colour = _COLOURS.get(label.status, _COLOURS["info"])
            pen = QPen(colour, line)
            if label.status == "unknown":
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            x, y, w, bh = label.box
            painter.drawRect(QRectF(x, y, w, bh))
            if not label.text:
                continue
            pad = 3.0
            # A long name is cut to about its face's width, so it cannot cover a neighbour's label.
            text = metrics.elidedText(label.text, Qt.TextElideMode.ElideMiddle, max(w * 1.6, 8 * metrics.averageCharWidth()))
            text_w = metrics.horizontalAdvance(text) + 2 * pad
            text_h = metrics.height() + 2 * pad
            top = y - text_h if y - text_h >= 0 else y + bh  # above the box, or below it at the top edge
            left = min(max(0.0, x), max(0.0, qimage.width() - text_w))
            back = QRectF(left, top, text_w, text_h)
            painter.fillRect(back, colour)
            painter.setPen(QColor(255, 255, 255) if label.status != "unknown" else QColor(0, 0, 0))
            painter.drawText(back.adjusted(pad, pad, -pad, -pad), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
    finally:
        painter.end()
    return qimage


class VideoView(QWidget):
    """Shows the newest rendered frame scaled to fit, keeping its aspect ratio; a placeholder
    text when there is no video."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._labels: list[FaceLabel] = []
        self.placeholder = "No video"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    def show_frame(self, image: np.ndarray, labels: list[FaceLabel]) -> None:
        self._image = render_overlay(image, labels)
        self._labels = list(labels)
        self.update()

    def _image_rect(self) -> QRectF:
        """Where the frame is drawn in the widget (scaled to fit, centred)."""
        assert self._image is not None
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRectF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2, size.width(), size.height())

    def label_at(self, point: QPointF) -> FaceLabel | None:
        """The label of the face under a point of the widget, if any."""
        if self._image is None or self._image.isNull():
            return None
        rect = self._image_rect()
        if rect.width() <= 0 or not rect.contains(point):
            return None
        scale = self._image.width() / rect.width()
        x, y = (point.x() - rect.x()) * scale, (point.y() - rect.y()) * scale
        for label in self._labels:
            bx, by, bw, bh = label.box
            if bx <= x <= bx + bw and by <= y <= by + bh:
                return label
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            label = self.label_at(QPointF(event.pos()))
            if label is not None and label.tooltip:
                QToolTip.showText(event.globalPos(), label.tooltip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def image(self) -> QImage | None:
        return self._image

    def clear(self, placeholder: str = "No video") -> None:
        self._image = None
        self._labels = []
        self.placeholder = placeholder
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor(20, 20, 20))
            if self._image is None or self._image.isNull():
                painter.setPen(QColor(200, 200, 200))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
                return
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self._image_rect(), self._image)
        finally:
            painter.end()
