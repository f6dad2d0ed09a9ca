"""``resolve_config``: one configuration from defaults < saved GUI preferences < environment <
command line, and the model card's threshold, decided in one place for both front ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceapp.app import ConfigError, resolve_config
from faceapp.config import default_data_dir, shipped_model_path
from faceapp.errors import ModelError

LEVELS = {"0.01": 0.9, "0.001": 0.8, "0.0001": 0.7}


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A model card with LEVELS, default 0.001 (only the card: resolving never loads weights)."""
    path = tmp_path / "model.json"
    path.write_text(json.dumps({
        "model_id": "test-model", "weights": {"file": "model.pt", "sha256": "0" * 64}, "embedding": {"dim": 128},
        "input": {"size": 112}, "architecture": {"config": {}},
        "thresholds": {"by_far": LEVELS, "default_far": "0.001"},
    }))
    return path


def test_each_layer_beats_the_ones_below(tmp_path: Path, card: Path) -> None:
    env = {"FACEAPP_DB": "/env.db", "FACEAPP_THREADS": "2"}
    assert resolve_config(environ={}).db_path == default_data_dir() / "faceapp.db"
    assert resolve_config(environ={}).model_path == shipped_model_path()
    assert resolve_config(prefs={"db": "/prefs.db"}, environ={}).db == "/prefs.db"
    assert resolve_config(prefs={"db": "/prefs.db"}, environ=env).db == "/env.db"
    assert resolve_config(flags={"db": "/flag.db"}, prefs={"db": "/prefs.db"}, environ=env).db == "/flag.db"
    config = resolve_config(flags={"model_path": card, "device": "cpu"}, prefs={"device": "cuda", "enroll_shots": 3,
                                                                                 "threads": 8}, environ=env)
    assert config.device == "cpu" and config.enroll_shots == 3 and config.threads == 2
    assert config.model_id == "test-model" and dict(config.thresholds) == LEVELS and config.default_level == "0.001"


def test_none_is_unset_and_unknown_names_are_refused(card: Path) -> None:
    assert resolve_config(flags={"model_path": card, "db": None}, prefs={"db": "/prefs.db"}, environ={}).db == "/prefs.db"
    with pytest.raises(ValueError, match="not configuration fields"):
        resolve_config(prefs={"colour": "blue"}, environ={})
    with pytest.raises(ConfigError, match="FACEAPP_THREADS"):
        resolve_config(environ={"FACEAPP_THREADS": "many"})


def test_the_threshold_comes_from_the_highest_layer_that_chose_one(card: Path) -> None:
    def threshold(flags: dict | None = None, prefs: dict | None = None) -> float | None:
        return resolve_config(flags={"model_path": card, **(flags or {})}, prefs=prefs, environ={}).threshold

    assert threshold() == 0.8  # the card's default level
    assert threshold(prefs={"far_level": "0.0001"}) == 0.7
    assert threshold(prefs={"far_level": "1e-4"}) == 0.7  # the same level written another way
    assert threshold(prefs={"custom_threshold": 0.5}) == 0.5
    assert threshold({"threshold_override": 0.3}, {"far_level": "0.0001"}) == 0.3
    assert threshold({"far_level": "0.01"}, {"custom_threshold": 0.5}) == 0.9  # a flag's level beats a saved custom one
    assert threshold({"threshold_override": 0.3}, {"custom_threshold": 0.5}) == 0.3


def test_a_saved_far_level_the_card_lacks_falls_back_to_the_default_level(card: Path) -> None:
    """Another model was chosen since the level was saved: the window must still start."""
    config = resolve_config(flags={"model_path": card}, prefs={"far_level": "0.00001"}, environ={})
    assert config.threshold == 0.8


def test_a_far_level_on_the_command_line_that_the_card_lacks_is_an_error(card: Path) -> None:
    with pytest.raises(ConfigError, match="no threshold for it; it has 0.01, 0.001, 0.0001"):
        resolve_config(flags={"model_path": card, "far_level": "0.00001"}, environ={})
    with pytest.raises(ConfigError, match="not a number"):
        resolve_config(flags={"model_path": card, "far_level": "strict"}, prefs={"far_level": "0.001"}, environ={})


def test_an_unreadable_card_stops_only_what_needs_the_threshold(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    config = resolve_config(flags={"model_path": missing}, prefs={"far_level": "0.001"}, environ={})
    assert config.threshold is None and "missing.json" in (config.card_error or "")
    with pytest.raises(ModelError, match="missing.json"):
        config.require_threshold()
    assert resolve_config(flags={"model_path": missing, "threshold_override": 0.4}, environ={}).threshold == 0.4
    with pytest.raises(ModelError):  # a level asked for on the command line cannot be honoured without it
        resolve_config(flags={"model_path": missing, "far_level": "0.001"}, environ={})


def open_set_card(card: Path) -> Path:
    """The test card with open-set levels (``faceapp.decide``), as training/calibrate_open_set.py writes them."""
    raw = json.loads(card.read_text())
    raw["thresholds"]["open_set"] = {"by_fpir": {"0.05": {"1": 1.0, "100": 0.75}, "0.01": {"1": 0.9, "100": 0.65}},
                                     "default_fpir": "0.05", "min_margin": 0.04}
    card.write_text(json.dumps(raw))
    return card


def test_the_open_set_level_and_margin_come_from_the_card_unless_chosen(card: Path) -> None:
    from faceapp.app.recognition import identify_rule

    open_set_card(card)
    config = resolve_config(flags={"model_path": card}, environ={})
    assert (config.open_set_level, dict(config.fpir_table), config.margin) == ("0.05", {1: 1.0, 100: 0.75}, 0.04)
    assert config.fpir_level is None and config.min_margin is None  # nothing was chosen: nothing to save
    assert config.fpir_levels == ("0.05", "0.01") and config.default_open_set_level == "0.05"
    rule = identify_rule(config)
    assert rule.threshold_for(1) == 0.8 and rule.threshold_for(100) == 0.75  # capped by the 1:1 default, 0.8
    chosen = resolve_config(flags={"model_path": card, "fpir_level": "1e-2", "min_margin": 0.1}, environ={})
    assert (chosen.open_set_level, chosen.fpir_table[100], chosen.margin) == ("0.01", 0.65, 0.1)
    assert identify_rule(resolve_config(flags={"model_path": card, "threshold_override": 0.5}, environ={})).threshold_for(100) == 0.5
    with pytest.raises(ConfigError, match="--fpir 0.2: the model card has no such level; it has 0.05, 0.01"):
        resolve_config(flags={"model_path": card, "fpir_level": "0.2"}, environ={})
    with pytest.raises(ConfigError, match="--margin"):
        resolve_config(flags={"model_path": card, "min_margin": -1.0}, environ={})


def test_a_saved_open_set_level_another_card_lacks_falls_back_to_its_default(card: Path) -> None:
    open_set_card(card)
    saved = resolve_config(flags={"model_path": card}, prefs={"fpir_level": "0.001"}, environ={})
    assert saved.open_set_level == "0.05"  # chosen in the GUI for another model: the card's default
    assert resolve_config(flags={"model_path": card}, prefs={"fpir_level": "0.01"}, environ={}).open_set_level == "0.01"
    with pytest.raises(ConfigError, match="--fpir 0.2"):  # the command line's is an error, whatever is saved
        resolve_config(flags={"model_path": card, "fpir_level": "0.2"}, prefs={"far_level": "0.001", "fpir_level": "0.01"},
                       environ={})


def test_a_card_without_open_set_levels_identifies_under_the_1v1_threshold(card: Path) -> None:
    from faceapp.app.recognition import identify_rule

    config = resolve_config(flags={"model_path": card}, environ={})
    assert config.open_set_level is None and dict(config.fpir_table) == {} and config.margin == 0.0
    assert identify_rule(config).threshold_for(1000) == LEVELS["0.001"]
    with pytest.raises(ConfigError, match="no open-set levels"):
        resolve_config(flags={"model_path": card, "fpir_level": "0.01"}, environ={})
