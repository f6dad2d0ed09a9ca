"""The application layer: the use-cases both front ends call (enroll, verify, identify, people
and templates, re-encoding) over one resolved configuration and the storage protocol.

``faceapp.cli`` and ``faceapp.gui`` import this package and the stages' value types, never
``faceapp.storage``: a rule that both need (when a sighting is logged, when a live verify
accepts, which threshold applies) lives here or below, once.
"""

from __future__ import annotations

from ..storage import PersonInfo, TemplateInfo
from .config import AppConfig, ConfigError, resolve_config, resolve_threshold, threshold_for_far
from .context import AppContext, load_pipeline
from .database import Database

__all__ = [
    "AppConfig",
    "AppContext",
    "ConfigError",
    "Database",
    "PersonInfo",
    "TemplateInfo",
    "load_pipeline",
    "resolve_config",
    "resolve_threshold",
    "threshold_for_far",
]
