"""GUI preferences: QSettings round trip (in a tmp INI file), the preferences layer of the
configuration (beneath the command line), what the settings dialog overrules, security levels."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from faceapp.app import resolve_config
from faceapp.gui.prefs import (
    CUSTOM_LEVEL,
    GuiPrefs,
    as_in_use,
    config_layer,
    explicit_layer,
    far_label,
    kept_unless_changed,
    load_prefs,
    overruled_flags,
    rule_summary,
    save_prefs,
    security_levels,
)


def write_card(folder: Path, thresholds: dict[str, float], default_level: str) -> Path:
    """A model card with these thresholds (only the card: resolving settings never loads weights)."""
    card = folder / "model.json"
    card.write_text(json.dumps({
        "model_id": "test-model", "weights": {"file": "model.pt", "sha256": "0" * 64}, "embedding": {"dim": 128},
        "input": {"size": 112}, "architecture": {"config": {}},
        "thresholds": {"by_far": thresholds, "default_far": default_level},
    }))
    return card


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
    card = write_card(tmp_path, {"0.001": 0.8}, "0.001")
    prefs = replace(GuiPrefs(), db_path=str(tmp_path / "saved.db"), device="cpu", enroll_shots=3)
    saved = resolve_config(flags={"model_path": card}, prefs=config_layer(prefs), environ={})
    assert saved.db_path == tmp_path / "saved.db" and saved.device == "cpu" and saved.enroll_shots == 3
    flags = {"model_path": card, "db": str(tmp_path / "cli.db"), "device": "cuda"}
    merged = resolve_config(flags=flags, prefs=config_layer(prefs), environ={})
    assert merged.db_path == tmp_path / "cli.db" and merged.device == "cuda"
    assert merged.enroll_shots == 3  # the command line said nothing about it
    # Empty paths in the preferences are "not chosen": the defaults (or the environment) apply.
    plain = resolve_config(flags={"model_path": card}, prefs=config_layer(GuiPrefs()), environ={"FACEAPP_DB": "/env.db"})
    assert plain.db == "/env.db"


def test_a_configuration_without_its_command_line_keeps_what_differs_from_the_defaults(tmp_path: Path) -> None:
    card = write_card(tmp_path, {"0.001": 0.8}, "0.001")
    config = resolve_config(flags={"model_path": card, "db": str(tmp_path / "x.db"), "device": "cpu"}, environ={})
    assert explicit_layer(config) == {"model_path": card, "db": str(tmp_path / "x.db"), "device": "cpu"}


def test_security_levels_and_thresholds(tmp_path: Path) -> None:
    thresholds = {"0.001": 0.8, "0.01": 0.9, "0.0001": 0.7}
    card = write_card(tmp_path, thresholds, "0.001")
    assert [level for level, _ in security_levels(thresholds)] == ["0.01", "0.001", "0.0001"]
    assert far_label("0.001") == "1 in 1,000" and far_label("0.03") == "3 in 100"

    def threshold(prefs: GuiPrefs, **flags) -> float:
        return resolve_config(flags={"model_path": card, **flags}, prefs=config_layer(prefs), environ={}).threshold

    prefs = GuiPrefs()
    assert threshold(prefs) == 0.8
    assert threshold(replace(prefs, security_level="0.0001")) == 0.7
    assert threshold(replace(prefs, security_level=CUSTOM_LEVEL, custom_threshold=0.5)) == 0.5
    assert threshold(replace(prefs, security_level=CUSTOM_LEVEL, custom_threshold=0.0)) == 0.8  # 0: not set
    assert threshold(replace(prefs, security_level="0.0001"), threshold_override=0.3) == 0.3
    assert threshold(replace(prefs, security_level=CUSTOM_LEVEL, custom_threshold=0.5), far_level="0.01") == 0.9
    assert threshold(replace(prefs, security_level="nonsense")) == pytest.approx(0.8)


def test_a_choice_made_in_the_settings_dialog_overrules_the_command_line() -> None:
    old = GuiPrefs()
    assert overruled_flags(old, replace(old, enroll_shots=3)) == frozenset()
    level = overruled_flags(old, replace(old, security_level="0.0001"))
    assert level == {"threshold_override", "far_level"}
    db = overruled_flags(old, replace(old, db_path="/chosen.db"), level)
    assert db == level | {"db"}
    # Emptying a path field again gives the command line's value back.
    assert overruled_flags(replace(old, db_path="/chosen.db"), old, db) == level
    assert overruled_flags(old, replace(old, device="cpu")) == {"device"}
    assert overruled_flags(old, replace(old, open_set_level="0.01")) == {"fpir_level"}


def test_the_dialog_opens_on_the_levels_in_use_and_ok_alone_keeps_the_saved_ones(tmp_path: Path) -> None:
    card = write_card(tmp_path, {"0.001": 0.8, "0.01": 0.9}, "0.001")
    saved = GuiPrefs()
    shown = as_in_use(saved, resolve_config(flags={"model_path": card}, prefs=config_layer(saved), environ={}))
    assert (shown.security_level, shown.open_set_level) == ("0.001", "")  # the card's default; it has no FPIR levels
    assert kept_unless_changed(saved, shown, replace(shown, enroll_shots=3)) == replace(saved, enroll_shots=3)

    flagged = resolve_config(flags={"model_path": card, "threshold_override": 0.75}, prefs=config_layer(saved), environ={})
    shown = as_in_use(saved, flagged)
    assert (shown.security_level, shown.custom_threshold) == (CUSTOM_LEVEL, 0.75)  # --threshold, not the saved level
    assert kept_unless_changed(saved, shown, replace(shown, custom_threshold=0.750001)) == saved  # the spin box's rounding
    chosen = kept_unless_changed(saved, shown, replace(shown, security_level="0.01"))
    assert chosen.security_level == "0.01" and overruled_flags(saved, chosen) == {"threshold_override", "far_level"}
    typed = kept_unless_changed(saved, shown, replace(shown, custom_threshold=0.7))
    assert (typed.security_level, typed.custom_threshold) == (CUSTOM_LEVEL, 0.7)


def test_the_model_status_tip_says_which_rules_are_in_use(tmp_path: Path) -> None:
    card = write_card(tmp_path, {"0.001": 0.8, "0.01": 0.9}, "0.001")
    raw = json.loads(card.read_text())
    raw["thresholds"]["open_set"] = {"by_fpir": {"0.05": {"1": 1.0, "100": 0.75}, "0.03": {"1": 0.9, "100": 0.65}},
                                     "default_fpir": "0.05", "min_margin": 0.04}
    card.write_text(json.dumps(raw))
    config = resolve_config(flags={"model_path": card}, prefs=config_layer(replace(GuiPrefs(), open_set_level="0.03")),
                            environ={})
    assert rule_summary(config) == "verify: distance threshold 0.800; identify names at most 3 in 100 strangers, margin 0.04"
    fixed = resolve_config(flags={"model_path": card, "threshold_override": 0.7}, environ={})
    assert rule_summary(fixed) == "verify: distance threshold 0.700; identify: the same threshold (--threshold)"
