"""Starting the GUI: without a display it says so instead of letting Qt abort the process."""

from __future__ import annotations

import subprocess
import sys

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
