"""One resolved configuration: defaults < saved GUI preferences < environment < command line.

:func:`resolve_config` is called once at an entry point (the CLI's ``main``, the GUI at start
and after its settings dialog) and returns a frozen :class:`AppConfig`; everything below gets
plain values from it. The model card is read here too (JSON only, no torch), so the threshold
is decided in one place: ``--threshold`` wins, then a false-accept-rate level (``--far`` or
the GUI's security level), then a custom GUI threshold, then the card's default level.
A card that cannot be read does not stop commands that need no model (listing people); the
error is kept and raised by whatever needs the threshold.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..config import (
    DB_ENV,
    DETECTOR_ENV,
    MODEL_ENV,
    STATION_ENV,
    THREADS_ENV,
    default_data_dir,
    shipped_model_path,
)
from ..errors import FaceAppError, ModelError

DB_KEY_ENV = "FACEAPP_DB_KEY"
RETENTION_ENV = "FACEAPP_RETENTION_DAYS"


class ConfigError(FaceAppError):
    """A setting that cannot be used (a bad environment value, a FAR level the card lacks)."""


@dataclass(frozen=True)
class AppConfig:
    """Every setting the application layer acts on, resolved once."""

    db: str  # a SQLite file path, or a PostgreSQL URL (postgresql://user@host/dbname)
    model_path: Path
    detector_model: Path | None = None  # None: the shipped YuNet
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    threads: int | None = None  # CPU threads for detection and the encoder; None: one per core
    detection_score: float = 0.6
    max_detect_side: int = 640  # frames are downscaled to this before detection, for speed
    # How the distance threshold is chosen (see resolve_threshold), and the result.
    threshold_override: float | None = None  # --threshold
    far_level: str | None = None  # --far or the GUI's security level
    custom_threshold: float | None = None  # the GUI's "custom" security level
    threshold: float | None = None  # resolved from the above and the card; None: card unreadable
    thresholds: Mapping[str, float] = field(default_factory=dict)  # the card's FAR level -> distance
    default_level: str | None = None
    # The open-set (1:N) rule (faceapp.decide): an FPIR level of the card (--fpir; None: the card's
    # default), the margin over the runner-up (--margin; None: the card's), and what they resolve to.
    fpir_level: str | None = None
    min_margin: float | None = None
    open_set_level: str | None = None  # the level in use; None: the card has none (1:1 threshold only)
    fpir_table: Mapping[int, float] = field(default_factory=dict)  # gallery size -> distance, of that level
    fpir_levels: tuple[str, ...] = ()  # the card's levels
    default_open_set_level: str | None = None  # the card's own choice among them
    margin: float = 0.0  # the margin in use
    model_id: str | None = None
    card_error: str | None = None  # why the card could not be read
    # Live behaviour shared by both front ends.
    enroll_shots: int = 5
    shot_interval_s: float = 0.5  # live enrollment shots at least this far apart, so they differ
    verify_window: int = 7
    verify_needed: int = 5
    max_rejections: int = 3
    lockout_s: float = 30.0
    sighting_interval_s: float = 60.0
    keep_thumbnails: bool = True
    keep_face_crops: bool = True
    # Which station this is, recorded with every event it logs (--station, $FACEAPP_STATION;
    # the host name by default), so one shared event log says where each decision was made.
    station: str | None = None
    # Privacy: events older than this many days are erased at start and daily (0: kept).
    retention_days: int = 0
    # Unknown faces remembered (faceapp.app.unknowns): off unless chosen (--remember-unknowns);
    # their sightings are erased after this many days (0: kept).
    remember_unknowns: bool = False
    unknowns_retention_days: int = 30
    # The key of an encrypted database ($FACEAPP_DB_KEY); None: the system keyring's, if any.
    # Left out of repr so that no log or traceback prints it.
    db_key: str | None = field(default=None, repr=False)

    def require_threshold(self) -> float:
        """The threshold, or the card's error for commands that cannot work without it."""
        if self.threshold is None:
            raise ModelError(self.card_error or "no model card was read")
        return self.threshold

    @property
    def db_path(self) -> Path:
        return Path(self.db).expanduser()

    @property
    def db_label(self) -> str:
        """The database as the user may see it: the file, or the server's URL without its password."""
        from ..storage import display_target

        return display_target(self.db)


_FIELDS = {f.name for f in fields(AppConfig)}
_DERIVED = {"threshold", "thresholds", "default_level", "model_id", "card_error", "open_set_level", "fpir_table",
            "fpir_levels", "default_open_set_level", "margin"}


def defaults() -> dict[str, Any]:
    """The built-in values (paths are computed when called, never at import)."""
    return {"db": str(default_data_dir() / "faceapp.db"), "model_path": shipped_model_path(),
            "station": socket.gethostname()}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """FACEAPP_DB, FACEAPP_MODEL, FACEAPP_DETECTOR_MODEL, FACEAPP_THREADS, FACEAPP_DB_KEY,
    FACEAPP_RETENTION_DAYS and FACEAPP_STATION, where set."""
    layer: dict[str, Any] = {}
    if environ.get(DB_ENV):
        layer["db"] = environ[DB_ENV]
    if environ.get(MODEL_ENV):
        layer["model_path"] = Path(environ[MODEL_ENV])
    if environ.get(DETECTOR_ENV):
        layer["detector_model"] = Path(environ[DETECTOR_ENV])
    raw = environ.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"{THREADS_ENV}={raw!r}: must be a whole number of threads, at least 1")
        layer["threads"] = int(raw)
    if environ.get(STATION_ENV, "").strip():
        layer["station"] = environ[STATION_ENV].strip()
    if environ.get(DB_KEY_ENV):
        layer["db_key"] = environ[DB_KEY_ENV]
    raw = environ.get(RETENTION_ENV, "").strip()
    if raw:
        if not raw.isdigit():
            raise ConfigError(f"{RETENTION_ENV}={raw!r}: must be a whole number of days (0 keeps events)")
        layer["retention_days"] = int(raw)
    return layer


def resolve_config(
    flags: Mapping[str, Any] | None = None,
    prefs: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """Merge the layers (each a mapping of AppConfig field names; None values are unset) and the
    model card into one AppConfig. A flag and a preference both setting the threshold: the flag
    wins, and a flag's ``far_level`` clears a saved custom threshold, and the other way round."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = defaults()
    saved_level = (prefs or {}).get("far_level")
    saved_fpir = (prefs or {}).get("fpir_level")
    for layer in (prefs or {}, from_environment(environ), flags or {}):
        unknown = set(layer) - _FIELDS
        if unknown:
            raise ValueError(f"not configuration fields: {sorted(unknown)}")
        if layer is not prefs and layer.get("db") is not None:  # typed now: say a mistyped URL at once
            from ..storage import check_not_a_url

            try:
                check_not_a_url(str(layer["db"]))
            except FaceAppError as exc:
                raise ConfigError(str(exc)) from None
        values = {k: v for k, v in layer.items() if v is not None}
        if {"threshold_override", "far_level"} & set(values):
            merged.pop("custom_threshold", None)  # a higher layer chose how to set the threshold
            if "far_level" in values:
                merged.pop("threshold_override", None)
        merged.update(values)
    merged["db"] = str(merged["db"])
    merged["model_path"] = Path(merged["model_path"])
    config = AppConfig(**{k: v for k, v in merged.items() if k not in _DERIVED})
    # A level saved in the GUI that this card lacks (another model was chosen since) falls back
    # to the card's default; one given on the command line is an error (with_card).
    lenient = saved_level is not None and config.far_level == saved_level and not (flags or {}).get("far_level")
    lenient_fpir = saved_fpir is not None and config.fpir_level == saved_fpir and not (flags or {}).get("fpir_level")
    return with_card(config, lenient_level=lenient, lenient_fpir=lenient_fpir)


def with_card(config: AppConfig, lenient_level: bool = False, lenient_fpir: bool = False) -> AppConfig:
    """``config`` with the card's facts and the resolved threshold (or the card's error).
    ``lenient_level`` / ``lenient_fpir``: a FAR / FPIR level the card lacks (saved in the GUI
    before another model was chosen) means the card's default level, not an error."""
    from ..embed import read_card  # JSON only: no torch

    try:
        card = read_card(config.model_path)
    except ModelError as exc:
        if config.far_level is not None and config.threshold_override is None and not lenient_level:
            raise  # a FAR level asked for on the command line cannot be honoured without the card
        threshold = config.threshold_override
        return replace(config, threshold=threshold, thresholds={}, default_level=None, model_id=None,
                       card_error=str(exc))
    level = config.far_level
    if lenient_level and level is not None and not any(_same_level(level, k) for k in card.thresholds):
        level = None
    threshold = resolve_threshold(card.thresholds, card.default_level, config.threshold_override,
                                  level, config.custom_threshold)
    fpir_level, fpir_table = resolve_fpir(card.fpir_thresholds, card.default_fpir, config.fpir_level, lenient_fpir)
    margin = card.min_margin if config.min_margin is None else config.min_margin
    if not (math.isfinite(margin) and margin >= 0):
        raise ConfigError(f"--margin must be a distance >= 0, got {margin}")
    return replace(config, threshold=threshold, thresholds=dict(card.thresholds), default_level=card.default_level,
                   model_id=card.model_id, card_error=None, open_set_level=fpir_level, fpir_table=fpir_table,
                   fpir_levels=tuple(sorted(card.fpir_thresholds, key=float, reverse=True)),
                   default_open_set_level=card.default_fpir if card.fpir_thresholds else None, margin=float(margin))


def resolve_fpir(levels: Mapping[str, Mapping[int, float]], default: str | None, wanted: str | None,
                 lenient: bool = False) -> tuple[str | None, dict[int, float]]:
    """The FPIR level in use and its gallery-size table: ``wanted`` (--fpir), else the card's default.
    A card without open-set levels gives none (identification then uses the 1:1 threshold); a
    level the card lacks is a ConfigError naming those it has (the card's default if ``lenient``)."""
    if not levels:
        if wanted is not None and not lenient:
            raise ConfigError(f"--fpir {wanted}: the model card has no open-set levels")
        return None, {}
    chosen = default if wanted is None else next((k for k in levels if _same_level(k, wanted)), None)
    if chosen is None:
        if not lenient:
            names = ", ".join(sorted(levels, key=float, reverse=True))
            raise ConfigError(f"--fpir {wanted}: the model card has no such level; it has {names}")
        chosen = default
    return chosen, dict(levels[chosen]) if chosen is not None else {}


def resolve_threshold(
    thresholds: Mapping[str, float],
    default_level: str,
    override: float | None = None,
    far_level: str | None = None,
    custom: float | None = None,
) -> float:
    """The distance threshold: an explicit one, else a FAR level of the card, else a custom one,
    else the card's default level. An unknown FAR level is a ConfigError naming those it has."""
    if override is not None:
        if not (math.isfinite(override) and override >= 0):
            raise ConfigError(f"--threshold must be a number >= 0, got {override}")
        return float(override)
    if far_level is not None:
        return threshold_for_far(thresholds, far_level)
    if custom is not None and custom > 0:
        return float(custom)
    return float(thresholds[default_level])


def threshold_for_far(thresholds: Mapping[str, float], level: str) -> float:
    """The card's threshold for a false-accept rate such as "0.001" (or "1e-3")."""
    levels = ", ".join(sorted(thresholds, key=float, reverse=True))
    try:
        wanted = float(level)
    except ValueError:
        raise ConfigError(f"--far {level}: not a number; the model card has {levels}") from None
    for key, value in thresholds.items():
        if _same_level(key, wanted):
            return float(value)
    raise ConfigError(f"--far {level}: the model card has no threshold for it; it has {levels}")


def _same_level(a: str | float, b: str | float) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except ValueError:
        return False
