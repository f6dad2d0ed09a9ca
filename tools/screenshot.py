"""Take docs/screenshot.png: the running app over a video, with live labels.

Run it on a display, or headless under Xvfb (the script is what tools/screenshot.sh runs)::

    xvfb-run -a -s "-screen 0 1280x800x24" python tools/screenshot.py

It enrolls one LFW person from photo files through the enrollment wizard into a temporary
database (and temporary QSettings), plays a looping video in which that person appears next to
someone who is not enrolled, waits until both faces are labelled, and saves ``window.grab()``.
The enrollment photos are the person's half of the video frames, so the demo labels them whatever
the accuracy of the shipped model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from faceapp.app import resolve_config  # noqa: E402
from faceapp.images import list_images, load_image  # noqa: E402

ENROLLED, STRANGER = "Albert_Costa", "Amelie_Mauresmo"


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 24, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return canvas


def make_media(lfw: Path, folder: Path) -> tuple[list[Path], Path]:
    """Photo files of the enrolled person and a video of them beside a stranger."""
    ours, theirs = list_images(lfw / ENROLLED)[:3], list_images(lfw / STRANGER)[:3]
    photos, frames = [], []
    for i, (a, b) in enumerate(zip(ours, theirs)):
        left, right = fit(load_image(a), 400, 480), fit(load_image(b), 400, 480)
        photo = folder / f"{ENROLLED}_{i}.png"
        cv2.imwrite(str(photo), cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
        photos.append(photo)
        frames.append(np.concatenate([left, right], axis=1))
    video = folder / "office.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (800, 480))
    for frame in frames:
        for _ in range(20):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return photos, video


def wait(app, condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--model", type=Path, default=REPO / "assets" / "faceapp-encoder.json")
    parser.add_argument("--detector", type=Path, default=Path(os.environ.get("FACEAPP_DETECTOR_MODEL", REPO / "assets" / "yunet.onnx")))
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw-view1")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWizard

    from faceapp.gui.app import make_app
    from faceapp.gui.main_window import MainWindow
    from faceapp.gui.prefs import GuiPrefs, save_prefs

    with tempfile.TemporaryDirectory(prefix="faceapp-shot-") as tmp:
        folder = Path(tmp)
        photos, video = make_media(args.lfw, folder)
        app = make_app()
        qsettings = QSettings(str(folder / "gui.ini"), QSettings.Format.IniFormat)
        save_prefs(qsettings, GuiPrefs(loop=True))
        flags = {"db": str(folder / "faces.db"), "model_path": args.model, "detector_model": args.detector, "device": "cpu"}
        window = MainWindow(resolve_config(flags=flags), str(video), flags=flags, qsettings=qsettings)
        window.resize(1260, 780)
        window.show()
        wait(app, lambda: window.state.info is not None or window.messages.text("model").startswith("\u2716"), 120, "the model")
        if window.state.info is None:
            raise SystemExit(window.messages.text("model"))

        name = ENROLLED.replace("_", " ")
        wizard = window.start_enroll(name, from_camera=False)
        wizard.next()
        wizard.add_photo_files(photos)
        wait(app, lambda: not wizard.pending, 120, "the photos to be encoded")
        wizard.next()
        wizard.button(QWizard.WizardButton.FinishButton).click()
        wait(app, lambda: window.wizard is None, 10, "the wizard to save")

        window.set_mode("identify")
        texts = lambda: [label.text for label in window.last_labels]  # noqa: E731
        wait(app, lambda: any(name in t for t in texts()) and any("Unknown" in t for t in texts()), 120, "labels")
        settle = time.monotonic() + 3  # a few frames, so the fps and the seen list fill in
        wait(app, lambda: time.monotonic() > settle and any(name in t for t in texts()), 60, "a labelled frame")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(args.out)):
            raise SystemExit(f"cannot write {args.out}")
        print(f"wrote {args.out}: labels {texts()}")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
