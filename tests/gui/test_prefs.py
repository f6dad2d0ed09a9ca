"""GUI preferences: QSettings round trip (in a tmp INI file), merging with Settings, security levels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from faceapp.config import Settings
from faceapp.gui.prefs import (
    CUSTOM_LEVEL,
    GuiPrefs,
    effective_settings,
    far_label,
    load_prefs,
    resolve_threshold,
    save_prefs,
    security_levels,
)


def test_prefs_round_trip_through_an_ini_file(qsettings, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    prefs = replace(GuiPrefs(), source="/videos/a.avi", loop=True, security_level=CUSTOM_LEVEL, custom_threshold=0.42,
                    keep_thumbnails=False, lockout_s=12.0, verify_window=9, verify_needed=6)
    save_prefs(qsettings, prefs)
    again = QSettings(str(tmp_path / "faceapp-gui.ini"), QSettings.Format.IniFormat)
    assert load_prefs(again) == prefs  # types survive the INI strings


def test_prefs_ignore_garbage_values() -> None:
    store = {"verify/window": "many", "source/resolution": "huge", "verify/needed": "99", "privacy/keep_thumbnails": "false"}

    class Fake:
        def value(self, key, default=None):
            return store.get(key, default)

    prefs = load_prefs(Fake())
    assert prefs.verify_window == GuiPrefs().verify_window
    assert prefs.resolution == "native"
    assert prefs.verify_needed == prefs.verify_window  # clamped
    assert prefs.keep_thumbnails is False


def test_explicit_settings_win_over_saved_prefs(tmp_path: Path) -> None:
    defaults = Settings(db_path=tmp_path / "default.db", model_path=tmp_path / "m.json")
    prefs = replace(GuiPrefs(), db_path=str(tmp_path / "saved.db"), device="cpu")
    assert effective_settings(defaults, prefs, defaults).db_path == tmp_path / "saved.db"
    assert effective_settings(defaults, prefs, defaults).device == "cpu"
    given = replace(defaults, db_path=tmp_path / "cli.db", device="cuda")
    merged = effective_settings(given, prefs, defaults)
    assert merged.db_path == tmp_path / "cli.db" and merged.device == "cuda"


def test_security_levels_and_thresholds() -> None:
    thresholds = {"0.001": 0.8, "0.01": 0.9, "0.0001": 0.7}
    assert [level for level, _ in security_levels(thresholds)] == ["0.01", "0.001", "0.0001"]
    assert far_label("0.001") == "1 in 1,000"
    prefs = GuiPrefs()
    assert resolve_threshold(prefs, thresholds, "0.001") == 0.8
    assert resolve_threshold(replace(prefs, security_level="0.0001"), thresholds, "0.001") == 0.7
    assert resolve_threshold(replace(prefs, security_level=CUSTOM_LEVEL, custom_threshold=0.5), thresholds, "0.001") == 0.5
    assert resolve_threshold(replace(prefs, security_level="0.0001"), thresholds, "0.001", explicit=0.3) == 0.3
    assert resolve_threshold(replace(prefs, security_level="nonsense"), thresholds, "0.001") == pytest.approx(0.8)
