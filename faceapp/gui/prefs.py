"""The GUI's saved preferences, without Qt: a dataclass, (de)serialised through any QSettings-like
object (``value(key)`` / ``setValue(key, value)``), and turned into the preferences layer of
:func:`faceapp.app.resolve_config` (beneath the environment and the command line), so the window
runs on the same resolved configuration as the command line, never on preferences of its own."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from ..app import AppConfig
from ..app.config import defaults as config_defaults

ORGANIZATION = "faceapp"
APPLICATION = "faceapp"

RESOLUTIONS = ("native", "640x480", "1280x720", "1920x1080")
DEVICES = ("auto", "cpu", "cuda")
CUSTOM_LEVEL = "custom"
MAX_RETENTION_DAYS = 36500  # a hundred years: anything longer is "keep", which 0 says


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
    # "" = the model card's default open-set level; else one of its FPIR levels ("0.01"): the
    # share of strangers that "who is this?" (identify, attendance) may name.
    open_set_level: str = ""
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
    retention_days: int = 0  # events older than this are erased at start and daily; 0 keeps them

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
    "open_set_level": "identify/open_set_level",
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
    "retention_days": "privacy/retention_days",
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


def load_prefs(settings: SettingsStore) -> GuiPrefs:
    """Read every preference; missing or unreadable values keep their defaults."""
    base = GuiPrefs()
    values = {}
    for f in fields(GuiPrefs):
        default = getattr(base, f.name)
        raw = settings.value(_KEYS[f.name], None)
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
        retention_days=min(MAX_RETENTION_DAYS, max(0, prefs.retention_days)),
    )


def save_prefs(settings: SettingsStore, prefs: GuiPrefs) -> None:
    for f in fields(GuiPrefs):
        settings.setValue(_KEYS[f.name], getattr(prefs, f.name))
    sync = getattr(settings, "sync", None)
    if callable(sync):
        sync()


def config_layer(prefs: GuiPrefs) -> dict[str, Any]:
    """The preferences as a layer of :func:`faceapp.app.resolve_config` (AppConfig field names).

    An empty path means "not chosen here", so it leaves the setting to the layers below; the
    security level becomes a FAR level of the card, or a custom threshold, or nothing (the
    card's default level); the open-set level an FPIR level of the card, or nothing (its
    default). Only settings the GUI can change appear: the rest are never saved.
    """
    layer: dict[str, Any] = {
        "db": prefs.db_path or None,
        "model_path": prefs.model_path or None,
        "device": prefs.device,
        "keep_thumbnails": prefs.keep_thumbnails,
        "keep_face_crops": prefs.keep_face_crops,
        "enroll_shots": prefs.enroll_shots,
        "verify_window": prefs.verify_window,
        "verify_needed": min(prefs.verify_needed, prefs.verify_window),
        "max_rejections": prefs.max_rejections,
        "lockout_s": prefs.lockout_s,
        "sighting_interval_s": prefs.sighting_interval_s,
        "retention_days": prefs.retention_days,
    }
    if prefs.security_level == CUSTOM_LEVEL:
        # 0 means unset (the dialog never offers it): the card's default level then applies.
        layer["custom_threshold"] = prefs.custom_threshold if prefs.custom_threshold > 0 else None
    elif prefs.security_level:
        layer["far_level"] = prefs.security_level
    if prefs.open_set_level:
        layer["fpir_level"] = prefs.open_set_level
    return {key: value for key, value in layer.items() if value is not None}


# What resolve_config works out from the other settings and the model card: never a layer's.
_RESOLVED = ("threshold", "thresholds", "default_level", "model_id", "card_error")


def explicit_layer(config: AppConfig) -> dict[str, Any]:
    """The settings of ``config`` that differ from the built-in defaults, as a layer: what a
    caller that hands the window a configuration without its command line asked for (saved
    preferences then apply to the rest, as they do beneath a command line)."""
    base = AppConfig(**config_defaults())
    return {f.name: getattr(config, f.name) for f in fields(AppConfig)
            if f.name not in _RESOLVED and getattr(config, f.name) != getattr(base, f.name)}


# Which command-line settings (AppConfig fields) each preference competes with.
COMPETING_FLAGS: dict[str, tuple[str, ...]] = {
    "db_path": ("db",),
    "model_path": ("model_path",),
    "device": ("device",),
    "security_level": ("threshold_override", "far_level"),
    "custom_threshold": ("threshold_override", "far_level"),
    "open_set_level": ("fpir_level",),
}
_PATHS = ("db_path", "model_path")  # "" here means "not chosen": the command line's applies again


def overruled_flags(old: GuiPrefs, new: GuiPrefs, before: frozenset[str] = frozenset()) -> frozenset[str]:
    """The command-line settings that no longer apply once the settings dialog turned ``old``
    into ``new`` (``before``: those overruled already).

    A command-line option wins over a saved preference at start, but what the user chooses in
    the settings dialog afterwards is newer than the command line and wins for the rest of the
    session; emptying a path field gives the command line's value back.
    """
    overruled = set(before)
    for pref, flags in COMPETING_FLAGS.items():
        value = getattr(new, pref)
        if value == getattr(old, pref):
            continue
        if pref in _PATHS and not value:
            overruled.difference_update(flags)
        else:
            overruled.update(flags)
    return frozenset(overruled)


def as_in_use(prefs: GuiPrefs, config: AppConfig) -> GuiPrefs:
    """``prefs`` with the security and open-set levels that ``config`` runs with, for the
    settings dialog to open on: a --threshold or --far given at start shows as what it is, not
    as the saved choice it beat. ``config`` must have read its model card."""
    level = next((name for name, distance in config.thresholds.items() if distance == config.threshold), None)
    if config.threshold_override is not None or config.custom_threshold is not None or level is None:
        security = {"security_level": CUSTOM_LEVEL, "custom_threshold": config.threshold or prefs.custom_threshold}
    else:
        security = {"security_level": level}
    return replace(prefs, open_set_level=config.open_set_level or "", **security)


def _same_security(a: GuiPrefs, b: GuiPrefs) -> bool:
    if a.security_level != b.security_level:
        return False  # the dialog shows thresholds to 4 decimals
    return a.security_level != CUSTOM_LEVEL or round(a.custom_threshold, 4) == round(b.custom_threshold, 4)


def kept_unless_changed(saved: GuiPrefs, shown: GuiPrefs, edited: GuiPrefs) -> GuiPrefs:
    """What the settings dialog's OK saves: ``edited``, except that a level the user left as
    ``shown`` keeps its ``saved`` value. The dialog opens on the levels in use, often the card's
    defaults or a command line's; pressing OK to change something else must neither save them
    as choices of the user's (a default would then stop following the card) nor overrule the
    command line (``overruled_flags``)."""
    if _same_security(edited, shown):
        edited = replace(edited, security_level=saved.security_level, custom_threshold=saved.custom_threshold)
    if edited.open_set_level == shown.open_set_level:
        edited = replace(edited, open_set_level=saved.open_set_level)
    return edited


def rule_summary(config: AppConfig) -> str:
    """What the model's status tip says of the rules in use: the 1:1 threshold, and the share of
    strangers identify may name (or that --threshold replaces it)."""
    threshold = "none" if config.threshold is None else f"{config.threshold:.3f}"
    text = f"verify: distance threshold {threshold}"
    if config.threshold_override is not None:
        return text + "; identify: the same threshold (--threshold)"
    if config.open_set_level is None:
        return text + "; identify: the same threshold (the card has no open-set levels)"
    return text + f"; identify names at most {far_label(config.open_set_level)} strangers, margin {config.margin:.3g}"


def far_label(level: str) -> str:
    """'0.001' -> '1 in 1,000'; '0.03' -> '3 in 100'."""
    try:
        value = float(level)
    except ValueError:
        return level
    if value <= 0:
        return level
    inverse = 1.0 / value
    if abs(inverse - round(inverse)) < 1e-6 * inverse:
        return f"1 in {round(inverse):,}"
    if abs(value * 100 - round(value * 100)) < 1e-9:  # 0.03: "3 in 100" reads better than "1 in 33.3"
        return f"{round(value * 100)} in 100"
    return f"{value:.3g}"


def security_levels(thresholds: dict[str, float]) -> list[tuple[str, float]]:
    """(FAR level, distance threshold) from the most lenient to the strictest level."""
    def key(item: tuple[str, float]) -> float:
        try:
            return -float(item[0])
        except ValueError:
            return 0.0

    return sorted(thresholds.items(), key=key)
