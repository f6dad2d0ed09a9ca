"""Fixtures for the GUI tests: offscreen Qt, one shared pipeline, LFW photos that make good
enrollment shots, videos made from them, a tmp database and tmp QSettings, and a window factory."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import write_video
from faceapp.align import align_face
from faceapp.config import Settings
from faceapp.images import list_images, load_image
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


@pytest.fixture(scope="session")
def good_photos(lfw_dir: Path, gui_pipeline) -> dict[str, list[Path]]:
    """People (by name order) with 4+ photos that, letterboxed to 640x480, show exactly one face
    the enrollment quality check accepts; the first three such people."""
    from conftest import letterbox

    chosen: dict[str, list[Path]] = {}
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        photos = list_images(person)
        if len(photos) < 4:
            continue
        good = []
        for photo in photos:
            image = letterbox(load_image(photo), (640, 480))
            faces = gui_pipeline.detector.detect(image)
            if len(faces) == 1 and assess(faces[0], align_face(image, faces[0].landmarks)).ok:
                good.append(photo)
        if len(good) >= 4:
            chosen[person.name] = good[:4]
        if len(chosen) == 3:
            return chosen
    pytest.skip("not enough LFW people with good photos")


@pytest.fixture(scope="session")
def people(good_photos: dict[str, list[Path]]) -> list[str]:
    return list(good_photos)


@pytest.fixture(scope="session")
def videos(good_photos: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 10 fps MJPG video per chosen person: their good photos, each held for 5 frames."""
    folder = tmp_path_factory.mktemp("gui-videos")
    return {name: write_video(folder / f"{name}.avi", photos, fps=10, repeats=5) for name, photos in good_photos.items()}


@pytest.fixture
def gui_settings(tmp_path: Path, model_card: Path, detector_model: Path) -> Settings:
    return Settings(db_path=tmp_path / "faces.db", model_path=model_card, detector_model=detector_model, device="cpu")


@pytest.fixture
def qsettings(tmp_path: Path):
    """QSettings in a tmp INI file, never the user's."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "faceapp-gui.ini"), QSettings.Format.IniFormat)


def enroll_from_video(pipeline, db_path: Path, video: Path, name: str) -> int:
    """Enroll ``name`` directly (no GUI) from every face frame of ``video``: frames of that video
    then match these templates at distance ~0, whatever the model's accuracy."""
    from faceapp.camera import open_source
    from faceapp.store import Store

    encodings = []
    with open_source(video) as source:
        for frame in source:
            faces = pipeline.process(frame).faces
            if len(faces) == 1:
                encodings.append(faces[0].encoding)
    with Store.open(db_path) as store:
        store.enroll(name, np.stack(encodings), pipeline.model_id)
    return len(encodings)


@pytest.fixture
def make_window(qtbot, gui_settings: Settings, qsettings, gui_pipeline) -> Iterator[Callable]:
    """Build the real MainWindow (shared pipeline, no camera probing); every window is closed at
    teardown and its worker thread must have finished."""
    from faceapp.gui.main_window import MainWindow
    from faceapp.gui.prefs import GuiPrefs, save_prefs

    windows = []

    def make(source: str | Path | None = None, prefs: GuiPrefs | None = None, settings: Settings | None = None,
             wait_model: bool = True, **kwargs) -> MainWindow:
        if prefs is not None:
            save_prefs(qsettings, prefs)
        kwargs.setdefault("pipeline_factory", lambda _settings: gui_pipeline)
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
