"""Take docs/screenshot-attendance.png: the window taking attendance over a CC BY clip.

Headless under Xvfb::

    xvfb-run -a -s "-screen 0 1280x800x24" python tools/screenshot_attendance.py

Enrolls "Person E" into a temporary database from the faces of ../shared/videos/person-e-hungry.mkv
(CC BY 4.0, see its README), starts the session "Lecture 5" in Identify mode, plays
person-e-want.mkv (the same person in another clip) and saves ``window.grab()`` with the
Attendance tab showing once she is marked.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEAPP_SHARED_DIR", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from faceapp.app import resolve_config  # noqa: E402

MAX_ENROLL_FRAMES = 40


def wait(app, condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def enroll(pipeline, db_path: Path, video: Path, name: str) -> None:
    """Enroll ``name`` from the one-face frames of ``video`` (every 5th, at most MAX_ENROLL_FRAMES)."""
    from faceapp.camera import open_source
    from faceapp.storage import open_store

    encodings = []
    with open_source(video) as source:
        for i, frame in enumerate(source):
            if i % 5:
                continue
            faces = pipeline.process(frame).faces
            if len(faces) == 1:
                encodings.append(faces[0].encoding)
            if len(encodings) >= MAX_ENROLL_FRAMES:
                break
    with open_store(db_path) as store:
        store.enroll(name, np.stack(encodings), pipeline.model_id, sources=[video.name] * len(encodings))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot-attendance.png")
    parser.add_argument("--model", type=Path, default=REPO / "assets" / "faceapp-encoder.json")
    parser.add_argument("--detector", type=Path, default=Path(os.environ.get("FACEAPP_DETECTOR_MODEL", REPO / "assets" / "yunet.onnx")))
    args = parser.parse_args()

    from PySide6.QtCore import QSettings

    from faceapp.gui.app import make_app
    from faceapp.gui.main_window import MainWindow
    from faceapp.gui.prefs import GuiPrefs, save_prefs
    from faceapp.pipeline import open_pipeline

    videos = SHARED / "videos"
    with tempfile.TemporaryDirectory(prefix="faceapp-shot-") as tmp:
        folder = Path(tmp)
        pipeline = open_pipeline(args.model, args.detector, device="cpu")
        enroll(pipeline, folder / "faces.db", videos / "person-e-hungry.mkv", "Person E")
        app = make_app()
        qsettings = QSettings(str(folder / "gui.ini"), QSettings.Format.IniFormat)
        save_prefs(qsettings, GuiPrefs(loop=True))
        flags = {"db": str(folder / "faces.db"), "model_path": args.model, "detector_model": args.detector, "device": "cpu"}
        window = MainWindow(resolve_config(flags=flags), None, flags=flags, qsettings=qsettings,
                            pipeline_factory=lambda _config: pipeline, list_cameras_fn=lambda: [])
        window.resize(1260, 780)
        window.show()
        wait(app, lambda: window.state.info is not None, 120, "the model")
        window.set_mode("identify")
        window.state.start_session("Lecture 5")
        window.set_source(str(videos / "person-e-want.mkv"))
        window.tabs.setCurrentWidget(window.attendance_panel)
        wait(app, lambda: len(window.attendance_panel.rows()) == 1, 120, "Person E to be marked")
        texts = lambda: [label.text for label in window.last_labels]  # noqa: E731
        wait(app, lambda: any("Person E" in t for t in texts()), 60, "a labelled frame")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image = window.grab().toImage()
        if not image.save(str(args.out), "PNG", 0):
            raise SystemExit(f"cannot write {args.out}")
        print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB): attendance {window.attendance_panel.rows()}")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
