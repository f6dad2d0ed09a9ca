"""The GUI's saved preferences, without Qt: a dataclass, (de)serialised through any QSettings-like
object (``value(key)`` / ``setValue(key, value)``), and merged with the entry point's Settings."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from ..config import Settings

ORGANIZATION = "faceapp"
APPLICATION = "faceapp"

RESOLUTIONS = ("native", "640x480", "1280x720", "1920x1080")
DEVICES = ("auto", "cpu", "cuda")
CUSTOM_LEVEL = "custom"


class SettingsStore(Protocol):  # what we use of QSettings
    def value(self, key: str, defaultValue: Any = ...) -> Any: ...
    def setValue(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class GuiPrefs:
    source: str = ""  # the last source spec ("" = none chosen yet)
    loop: bool = False  # restart video files and folders at their end
    resolution: str = "native"
    security_level: str = ""  # "" = the model card's default FAR level; a level such as "0.001"; or "custom"
    custom_threshold: float = 0.0
    device: str = "auto"
    model_path: str = ""  # "" = the entry point's (shipped) model
    db_path: str = ""  # "" = the entry point's database
    keep_thumbnails: bool = True
    keep_face_crops: bool = True  # each template's aligned crop, so a new model can re-encode it
    enroll_shots: int = 5
    verify_window: int = 7
    verify_needed: int = 5
    max_rejections: int = 3
    lockout_s: float = 30.0
    sighting_interval_s: float = 60.0

    def max_side(self) -> int | None:
        """The frame size asked for, as the longer side in pixels (None = as delivered)."""
        size = resolution_size(self.resolution)
        return None if size is None else max(size)


_KEYS = {
    "source": "source/spec",
    "loop": "source/loop",
    "resolution": "source/resolution",
    "security_level": "security/level",
    "custom_threshold": "security/custom_threshold",
    "device": "model/device",
    "model_path": "model/path",
    "db_path": "database/path",
    "keep_thumbnails": "privacy/keep_thumbnails",
    "keep_face_crops": "privacy/keep_face_crops",
    "enroll_shots": "enroll/shots",
    "verify_window": "verify/window",
    "verify_needed": "verify/needed",
    "max_rejections": "verify/max_rejections",
    "lockout_s": "verify/lockout_s",
    "sighting_interval_s": "identify/log_interval_s",
}


def resolution_size(text: str) -> tuple[int, int] | None:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _coerce(raw: Any, default: Any) -> Any:
    """QSettings gives strings back from INI files (and 'true'/'false' for bools)."""
    if isinstance(default, bool):
        if isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return bool(raw)
    return type(default)(raw)


def load_prefs(store: SettingsStore) -> GuiPrefs:
    """Read every preference; missing or unreadable values keep their defaults."""
    base = GuiPrefs()
    values = {}
    for f in fields(GuiPrefs):
        default = getattr(base, f.name)
        raw = store.value(_KEYS[f.name], None)
        if raw is None:
            continue
        try:
            values[f.name] = _coerce(raw, default)
        except (TypeError, ValueError):
            continue
    prefs = replace(base, **values)
    return sanitize(prefs)


def sanitize(prefs: GuiPrefs) -> GuiPrefs:
    """Clamp values a hand-edited settings file could make nonsensical."""
    window = min(50, max(1, prefs.verify_window))
    return replace(
        prefs,
        resolution=prefs.resolution if prefs.resolution in RESOLUTIONS else "native",
        device=prefs.device if prefs.device in DEVICES else "auto",
        custom_threshold=max(0.0, prefs.custom_threshold),
        enroll_shots=min(50, max(1, prefs.enroll_shots)),
        verify_window=window,
        verify_needed=min(window, max(1, prefs.verify_needed)),
        max_rejections=max(1, prefs.max_rejections),
        lockout_s=max(0.0, prefs.lockout_s),
        sighting_interval_s=max(1.0, prefs.sighting_interval_s),  # 0 would log every frame
    )


def save_prefs(store: SettingsStore, prefs: GuiPrefs) -> None:
    for f in fields(GuiPrefs):
        store.setValue(_KEYS[f.name], getattr(prefs, f.name))
    sync = getattr(store, "sync", None)
    if callable(sync):
        sync()


def effective_settings(given: Settings, prefs: GuiPrefs, defaults: Settings | None = None) -> Settings:
    """The Settings to run with: what the entry point was told explicitly (a value differing from
    the defaults, e.g. ``--db``) wins; otherwise the choice saved in the GUI's preferences."""
    defaults = defaults or Settings.defaults()
    changes: dict[str, Any] = {}
    if prefs.db_path and given.db_path == defaults.db_path:
        changes["db_path"] = Path(prefs.db_path)
    if prefs.model_path and given.model_path == defaults.model_path:
        changes["model_path"] = Path(prefs.model_path)
    if given.device == defaults.device and prefs.device != given.device:
        changes["device"] = prefs.device
    return replace(given, **changes)


def far_label(level: str) -> str:
    """'0.001' -> '1 in 1,000'."""
    try:
        value = float(level)
    except ValueError:
        return level
    if value <= 0:
        return level
    inverse = 1.0 / value
    if abs(inverse - round(inverse)) < 1e-6 * inverse:
        return f"1 in {round(inverse):,}"
    return f"{value:.3g}"


def security_levels(thresholds: dict[str, float]) -> list[tuple[str, float]]:
    """(FAR level, distance threshold) from the most lenient to the strictest level."""
    def key(item: tuple[str, float]) -> float:
        try:
            return -float(item[0])
        except ValueError:
            return 0.0

    return sorted(thresholds.items(), key=key)


def resolve_threshold(
    prefs: GuiPrefs, thresholds: dict[str, float], default_level: str, explicit: float | None = None
) -> float:
    """The distance threshold to use: an explicit one (``--threshold``), else the chosen security
    level of the model card, else the card's default level."""
    if explicit is not None:
        return float(explicit)
    if prefs.security_level == CUSTOM_LEVEL and prefs.custom_threshold > 0:
        return float(prefs.custom_threshold)
    if prefs.security_level in thresholds:
        return float(thresholds[prefs.security_level])
    return float(thresholds[default_level])
