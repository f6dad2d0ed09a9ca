"""Fixtures for the GUI tests: offscreen Qt, one shared pipeline, in-repo photos that make good
enrollment shots, videos made from them, a tmp database and tmp QSettings, and a window factory."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import RepoFaces, letterbox, write_video
from faceapp.align import align_face
from faceapp.app import AppConfig, resolve_config
from faceapp.images import load_image
from faceapp.quality import assess

WAIT_MS = 90_000  # generous: the CPU is slow and shared with a training run


@pytest.fixture(scope="session")
def detector_model(yunet_model_path: Path) -> Path:
    return yunet_model_path


@pytest.fixture(scope="session")
def model_card(shipped_model_card: Path) -> Path:
    return shipped_model_card


@pytest.fixture(scope="session")
def gui_pipeline(model_card: Path, detector_model: Path):
    """Loaded once for the whole session; windows get it through pipeline_factory."""
    from faceapp.pipeline import open_pipeline

    return open_pipeline(model_card, detector_model, device="cpu")


GOOD_PHOTOS = 4  # per set of good_photos
IMPOSTOR = "doorway-1"  # the in-repo person whose face is found most surely in a letterboxed video frame


@pytest.fixture(scope="session")
def good_photos(repo_faces: RepoFaces, gui_pipeline) -> dict[str, list[Path]]:
    """Two sets of 4 in-repo photos that, letterboxed to 640x480, each show exactly one face the
    enrollment quality check accepts: person E in one clip ("person-e-hungry") and in the other
    ("person-e-want"). The doorway faces never pass the quality check."""
    chosen: dict[str, list[Path]] = {}
    for key, photos in (("person-e-hungry", repo_faces.hungry), ("person-e-want", repo_faces.want)):
        good = []
        for photo in photos:
            image = letterbox(load_image(photo), (640, 480))
            faces = gui_pipeline.detector.detect(image)
            if len(faces) == 1 and assess(faces[0], align_face(image, faces[0].landmarks)).ok:
                good.append(photo)
        assert len(good) >= GOOD_PHOTOS, f"only {len(good)} of the {key} photos make good enrollment shots"
        chosen[key] = good[:GOOD_PHOTOS]
    return chosen


@pytest.fixture(scope="session")
def people(good_photos: dict[str, list[Path]]) -> list[str]:
    """Three keys of ``videos``: the two sets of good photos, then an impostor. The first and
    the third are different people, as verification tests need; the first two are person E
    in two clips, which no test needs to tell apart."""
    return [*good_photos, IMPOSTOR]


@pytest.fixture(scope="session")
def videos(good_photos: dict[str, list[Path]], repo_faces: RepoFaces, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 10 fps MJPG video per key of ``people``: its photos, each held for 5 frames."""
    folder = tmp_path_factory.mktemp("gui-videos")
    photos = {**good_photos, IMPOSTOR: list(repo_faces.others[IMPOSTOR])}
    return {name: write_video(folder / f"{name}.avi", shown, fps=10, repeats=5) for name, shown in photos.items()}


@pytest.fixture
def gui_settings(tmp_path: Path, model_card: Path, detector_model: Path) -> AppConfig:
    """The configuration a command line would give the window: a tmp database, the shipped model on the CPU."""
    flags = {"db": str(tmp_path / "faces.db"), "model_path": model_card, "detector_model": detector_model, "device": "cpu"}
    return resolve_config(flags=flags, environ={})


@pytest.fixture
def qsettings(tmp_path: Path):
    """QSettings in a tmp INI file, never the user's."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "faceapp-gui.ini"), QSettings.Format.IniFormat)


def enroll_from_video(pipeline, db_path: Path, video: Path, name: str) -> int:
    """Enroll ``name`` directly (no GUI) from every face frame of ``video``: frames of that video
    then match these templates at distance ~0, whatever the model's accuracy."""
    from faceapp.camera import open_source
    from faceapp.storage import open_store

    encodings = []
    with open_source(video) as source:
        for frame in source:
            faces = pipeline.process(frame).faces
            if len(faces) == 1:
                encodings.append(faces[0].encoding)
    with open_store(db_path) as store:
        store.enroll(name, np.stack(encodings), pipeline.model_id)
    return len(encodings)


@pytest.fixture
def make_window(qtbot, gui_settings: AppConfig, qsettings, gui_pipeline) -> Iterator[Callable]:
    """Build the real MainWindow (shared pipeline, no camera probing); every window is closed at
    teardown and its worker thread must have finished."""
    from faceapp.gui.main_window import MainWindow
    from faceapp.gui.prefs import GuiPrefs, save_prefs

    windows = []

    def make(source: str | Path | None = None, prefs: GuiPrefs | None = None, settings: AppConfig | None = None,
             wait_model: bool = True, **kwargs) -> MainWindow:
        if prefs is not None:
            save_prefs(qsettings, prefs)
        kwargs.setdefault("pipeline_factory", lambda _config: gui_pipeline)
        kwargs.setdefault("list_cameras_fn", lambda: [])
        window = MainWindow(settings or gui_settings, None if source is None else str(source), qsettings=qsettings, **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if wait_model:
            qtbot.waitUntil(lambda: window.state.info is not None, timeout=WAIT_MS)
        return window

    yield make
    for window in windows:
        window.close()
        assert window.worker_thread.isFinished(), "the worker thread must stop when the window closes"
