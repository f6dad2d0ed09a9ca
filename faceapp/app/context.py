"""The application's context: the resolved configuration, the pipeline loaded on first use, and
the database opened on demand. Both front ends hold one; use-cases take it as their first argument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import AppConfig
from .database import Database

if TYPE_CHECKING:  # annotations only: importing the pipeline loads torch and OpenCV
    from ..pipeline import Pipeline

log = logging.getLogger(__name__)

PipelineFactory = Callable[[AppConfig], "Pipeline"]


def load_pipeline(config: AppConfig) -> Pipeline:
    """The detector and encoder these settings name (this is what imports torch)."""
    from ..pipeline import open_pipeline

    return open_pipeline(config.model_path, config.detector_model, config.device, config.detection_score,
                         config.max_detect_side, config.threads)


@dataclass
class AppContext:
    """Configuration + lazily loaded pipeline. ``pipeline_factory`` is injected so a front end can
    load the model where it wants (the GUI: in its worker thread)."""

    config: AppConfig
    pipeline_factory: PipelineFactory = load_pipeline
    _pipeline: Pipeline | None = field(default=None, repr=False)

    @property
    def threshold(self) -> float:
        return self.config.require_threshold()

    @property
    def loaded(self) -> Pipeline | None:
        """The pipeline if it is loaded already, else None (never loads it)."""
        return self._pipeline

    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self.config.require_threshold()  # a missing card says so before the model loads
            self._pipeline = self.pipeline_factory(self.config)
            log.info("model %s, threshold %.4f, detector %s", self._pipeline.model_id, self.threshold,
                     getattr(self._pipeline.detector, "name", type(self._pipeline.detector).__name__))
        return self._pipeline

    def use_pipeline(self, pipeline: Pipeline | None) -> None:
        """Adopt a pipeline loaded elsewhere (the GUI's worker thread), or forget it."""
        self._pipeline = pipeline

    def open_database(self, create: bool = False) -> Database:
        """The configured database; ``create`` makes a new one where none exists yet. Its key
        and retention period come from the configuration (see faceapp.app.privacy)."""
        from .privacy import open_database

        return open_database(self.config, create=create)

    def database_exists(self) -> bool:
        return Database.exists(self.config.db)

    def model_id(self) -> str | None:
        """The encoder's id from its card (no model load), or None when the card is unreadable."""
        return self.config.model_id
