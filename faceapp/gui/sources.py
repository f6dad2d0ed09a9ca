"""The source menu: the cameras present, a video file, an image folder or a stream URL."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMenu, QWidget

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v *.mpg *.wmv);;All files (*)"


class SourceMenu(QMenu):
    source_chosen = Signal(str)
    refresh_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("&Source", parent)
        self._cameras: list[int] | None = None
        self.loop_action = QAction("&Loop videos and folders", parent)
        self.loop_action.setCheckable(True)
        self._rebuild()

    def set_cameras(self, cameras: list[int] | None) -> None:
        """``None`` while probing."""
        self._cameras = cameras
        self._rebuild()

    def _rebuild(self) -> None:
        self.clear()  # deletes the actions it owns; the loop action belongs to the window
        self.addSection("Cameras")
        if self._cameras is None:
            self.addAction("Looking for cameras …").setEnabled(False)
        elif not self._cameras:
            self.addAction("No camera found").setEnabled(False)
        for index in self._cameras or []:
            action = self.addAction(f"Camera {index}")
            action.triggered.connect(lambda _=False, i=index: self.source_chosen.emit(str(i)))
        self.addAction("Look for cameras again", self.refresh_requested.emit)
        self.addSection("Files and streams")
        self.addAction("Open &video file…", self.open_video)
        self.addAction("Open image &folder…", self.open_folder)
        self.addAction("Open stream &URL…", self.open_url)
        self.addSeparator()
        self.addAction(self.loop_action)
        self.addAction("S&top", self.stop_requested.emit)

    def open_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parentWidget(), "Open a video file", "", VIDEO_FILTER)
        if path:
            self.source_chosen.emit(path)

    def open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.parentWidget(), "Open a folder of images")
        if path:
            self.source_chosen.emit(path)

    def open_url(self) -> None:
        url, ok = QInputDialog.getText(
            self.parentWidget(), "Open a stream", "Stream URL (rtsp://, http://):", QLineEdit.EchoMode.Normal, "rtsp://"
        )
        if ok and "://" in url.strip():
            self.source_chosen.emit(url.strip())
