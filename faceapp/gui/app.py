"""``run_gui(config, source, flags=...)``: the QApplication and the main window."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any, Mapping

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from ..app import AppConfig
from ..errors import FaceAppError
from .main_window import MainWindow
from .prefs import APPLICATION, ORGANIZATION

log = logging.getLogger(__name__)


def make_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("faceapp")
    return app  # type: ignore[return-value]


def check_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> None:
    """On Linux, refuse to start without a display: Qt would abort the process (core dump)
    instead of saying why. An explicit QT_QPA_PLATFORM (offscreen, vnc, ...) is trusted."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        raise FaceAppError("no display to show the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): "
                           "start faceapp from a desktop session, or use its commands (faceapp --help)")


def run_gui(config: AppConfig, source: str | None = None, *, flags: Mapping[str, Any] | None = None,
            qsettings: QSettings | None = None) -> int:
    """Show the main window over ``source`` (None: the remembered source, else the first camera)
    and run until it is closed; returns the exit code.

    ``config`` is what the entry point resolved from ``flags``, its command-line layer; the window
    resolves that layer again with its saved preferences beneath it (see MainWindow)."""
    check_display()
    app = make_app()
    window = MainWindow(config, source, flags=flags, qsettings=qsettings)
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
