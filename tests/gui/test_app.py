"""Starting the GUI: without a display it says so instead of letting Qt abort the process."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from faceapp.errors import FaceAppError
from faceapp.gui.app import check_display


def test_linux_without_a_display_is_a_clear_error() -> None:
    with pytest.raises(FaceAppError, match="no display"):
        check_display({}, "linux")


@pytest.mark.parametrize(
    "environ", [{"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "offscreen"}]
)
def test_a_display_or_an_explicit_qt_platform_is_enough(environ: dict) -> None:
    check_display(environ, "linux")


def test_other_systems_always_have_their_own_window_system() -> None:
    check_display({}, "win32")
    check_display({}, "darwin")


def test_the_gui_command_exits_with_the_message_and_creates_no_database(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    db = tmp_path / "people.db"
    run = subprocess.run([sys.executable, "-m", "faceapp", "gui", "--db", str(db)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "no display" in run.stderr and "Traceback" not in run.stderr
    assert not db.exists()


def test_faceapp_opens_the_window_with_the_command_line_settings_and_ctrl_c_closes_it(
    tmp_path: Path, shipped_model_card: Path, yunet_model_path: Path, good_photos: dict[str, list[Path]]
) -> None:
    """The real app in a child process (offscreen Qt, its own HOME for its preferences)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "QT_QPA_PLATFORM": "offscreen"}
    db, folder = tmp_path / "people.db", next(iter(good_photos.values()))[0].parent
    command = [sys.executable, "-m", "faceapp", "-v", "--db", str(db), "--model", str(shipped_model_card),
               "--detector-model", str(yunet_model_path), "--threshold", "0.5", "gui", "--source", str(folder)]
    app = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in app.stderr], daemon=True).start()
    try:
        seen = []
        while not any("threshold" in line for line in seen):
            seen.append(lines.get(timeout=120))  # the model loaded in the window's worker
        app.send_signal(signal.SIGINT)
        assert app.wait(timeout=60) == 0
    finally:
        app.kill()
    loaded = next(line for line in seen if "threshold" in line)
    assert "threshold 0.5000" in loaded and f"database {db}" in loaded
    assert db.exists()  # the window opened the database it was given
    assert "Traceback" not in "".join(seen)
