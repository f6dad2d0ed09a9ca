"""The worker's frame dropping and clean stop, and the overlay drawing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from conftest import FACE_VIDEO_PEOPLE, FACE_VIDEO_REPEATS
from faceapp.camera import open_source
from faceapp.gui.worker import FrameGrabber

from .conftest import WAIT_MS


def test_grabber_keeps_only_the_newest_frame(face_video: Path) -> None:
    statuses: list[str] = []
    grabber = FrameGrabber(str(face_video), open_source, statuses.append, realtime=False, loop=False)
    try:
        for _ in range(200):  # the whole (short) file is read long before this
            if grabber.done:
                break
            threading.Event().wait(0.05)
        frame = grabber.take(1.0)
        assert frame is not None and frame.index == FACE_VIDEO_PEOPLE * FACE_VIDEO_REPEATS - 1
        assert grabber.dropped == frame.index  # every older frame was dropped, not queued
        assert grabber.take(0.01) is None and grabber.finished and grabber.error is None
    finally:
        grabber.close()


def test_grabber_reports_a_source_that_cannot_open(tmp_path: Path) -> None:
    grabber = FrameGrabber(str(tmp_path / "nope.avi"), open_source, lambda s: None)
    try:
        assert grabber.take(5.0) is None
        for _ in range(100):
            if grabber.finished:
                break
            threading.Event().wait(0.05)
        assert grabber.finished and "nope.avi" in (grabber.error or "")
    finally:
        grabber.close()


def test_closing_a_playing_window_stops_its_thread(make_window, videos, people, qtbot) -> None:
    from faceapp.gui.prefs import GuiPrefs

    window = make_window(videos[people[0]], prefs=GuiPrefs(loop=True))
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=WAIT_MS)
    assert window.worker_thread.isRunning()
    window.close()
    assert window.worker_thread.isFinished()
    window.close()  # idempotent


def test_overlay_draws_boxes_and_labels(qapp) -> None:
    from faceapp.gui.video_view import FaceLabel, VideoView, render_overlay

    image = np.zeros((240, 320, 3), np.uint8)
    labels = [FaceLabel((40, 60, 80, 100), "\u2714 Alice 0.123", "ok"), FaceLabel((200, 5, 60, 60), "? Unknown", "unknown")]
    qimage = render_overlay(image, labels)
    assert (qimage.width(), qimage.height()) == (320, 240)
    green = qimage.pixelColor(40, 110)  # on the left edge of the first box
    assert green.green() > 120 and green.red() < 100
    label_bg = qimage.pixelColor(45, 50)  # the label sits above the box
    assert label_bg.green() > 120
    assert render_overlay(image, []).pixelColor(40, 110).green() == 0
    view = VideoView()
    view.show_frame(image, labels)
    assert view.image() is not None and not view.image().isNull()
    view.clear("No camera")
    assert view.image() is None and view.placeholder == "No camera"


def test_a_long_name_is_cut_so_it_does_not_cover_the_next_faces_label(qapp) -> None:
    from faceapp.gui.video_view import FaceLabel, render_overlay

    image = np.zeros((240, 640, 3), np.uint8)
    long_name = "\u2714 Maximiliane Alexandra von Hohenzollern-Sigmaringen 0.412"
    left = FaceLabel((40, 80, 80, 100), long_name, "ok")
    right = FaceLabel((260, 80, 80, 100), "\u2716 not Ann 1.1", "bad")
    drawn = render_overlay(image, [left, right])
    red = drawn.pixelColor(261, 62)  # the padding of the right face's own (red) label, not the green one
    assert red.red() > 150 and red.green() < 100
    alone = render_overlay(image, [left])
    assert alone.pixelColor(261, 62).green() == 0  # the cut label stops before the neighbour
