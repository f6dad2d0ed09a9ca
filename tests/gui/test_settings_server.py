"""The settings dialog takes a PostgreSQL URL as the database, and never lets the window save
its password: OK moves it to the system keyring or, where there is none, to libpq's password
file (one under tmp_path here, through $PGPASSFILE)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from faceapp.app.server_passwords import _keyring
from faceapp.gui.prefs import GuiPrefs, config_layer
from faceapp.gui.settings_dialog import SettingsDialog


@pytest.fixture
def pgpass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    if _keyring() is not None:
        pytest.skip("this machine has a system keyring: the test would leave a password in it")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "pgpass"))
    return tmp_path / "pgpass"


def test_a_database_url_is_accepted_and_its_password_is_never_in_the_settings(qtbot, pgpass: Path) -> None:
    dialog = SettingsDialog(GuiPrefs())
    qtbot.addWidget(dialog)
    assert "postgresql://" in dialog.db_path.placeholderText()
    dialog.db_path.setText("  postgresql://door:s3cret@db.example:5433/faces  ")
    dialog.accept()
    prefs = dialog.prefs()
    assert prefs.db_path == "postgresql://door@db.example:5433/faces"
    assert config_layer(prefs)["db"] == prefs.db_path
    assert pgpass.read_text() == "db.example:5433:faces:door:s3cret\n"
    assert stat.S_IMODE(os.stat(pgpass).st_mode) == 0o600


def test_when_the_password_cannot_be_kept_the_dialog_says_so_and_stays_open(qtbot, pgpass: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    pgpass.mkdir()  # a folder where the file should go: writing it fails
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    dialog = SettingsDialog(GuiPrefs())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.db_path.setText("postgresql://door:s3cret@db.example/faces")
    dialog.accept()
    assert dialog.isVisible() and dialog.result() == 0
    assert len(warnings) == 1 and "could not keep the password" in warnings[0] and "s3cret" not in warnings[0]
    assert "s3cret" in dialog.db_path.text()  # still there to fix, never saved
