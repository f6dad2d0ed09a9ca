"""``run_gui(settings, source)``: the QApplication and the main window."""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from ..config import Settings
from .main_window import MainWindow
from .prefs import APPLICATION, ORGANIZATION

log = logging.getLogger(__name__)


def make_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("faceapp")
    return app  # type: ignore[return-value]


def run_gui(settings: Settings, source: str | None = None, *, qsettings: QSettings | None = None) -> int:
    """Show the main window over ``source`` (None: the remembered source, else the first camera)
    and run until it is closed; returns the exit code."""
    app = make_app()
    window = MainWindow(settings, source, qsettings=qsettings)
    window.show()
    # Ctrl+C in the terminal closes the window cleanly; the timer lets Python see the signal.
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer()
    tick.start(250)
    tick.timeout.connect(lambda: None)
    try:
        return int(app.exec())
    finally:
        tick.stop()
        window.shutdown()
        signal.signal(signal.SIGINT, previous)
