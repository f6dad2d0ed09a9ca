"""The video worker: it takes the newest frame, drops the ones it had no time for, reports
jobs and sources, and stops cleanly; and the overlay drawing."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from faceapp.camera import open_source
from faceapp.errors import FaceAppError
from faceapp.gui.tasks import TaskGroup
from faceapp.gui.worker import JobResult, VideoWorker

from .conftest import WAIT_MS


class GatedPipeline:
    """Stands in for the pipeline: finds no face, and holds each frame until ``gate`` is open,
    like a slow model. ``calls`` records each frame the worker decides (index, gallery, and the
    threshold of the open-set rule it decides under, None without a gallery), as seen by the
    worker's FaceFollower (``start_worker`` wraps its ``process``)."""

    model_id = "stub-model"
    cohort = None  # galleries are judged on plain distances
    detector = SimpleNamespace(name="stub", quality="high")
    encoder = SimpleNamespace(device="cpu", runtime="onnx", dim=128,
                              card=SimpleNamespace(thresholds={"0.001": 0.5}, default_level="0.001", dim=128))

    def __init__(self) -> None:
        self.calls: list[tuple[int, object, float | None]] = []
        self.gate = threading.Event()
        self.gate.set()

    def find_faces(self, image, still=False) -> list:
        assert self.gate.wait(60), "the test never opened the gate"
        return []


@pytest.fixture
def start_worker(qapp, gui_settings, monkeypatch):
    """Start VideoWorkers the way the window does (a Task of a TaskGroup); at the end the group
    must join every one of them."""
    from faceapp.follow import FaceFollower

    process = FaceFollower.process

    def recorded(follower, frame, gallery, keep_crops=False):
        follower.pipeline.calls.append((frame.index, gallery, None if gallery is None else follower.rule.cap))
        return process(follower, frame, gallery, keep_crops)

    monkeypatch.setattr(FaceFollower, "process", recorded)
    group = TaskGroup()

    def start(pipeline: GatedPipeline, **kwargs) -> tuple[VideoWorker, object]:
        worker = VideoWorker(gui_settings, lambda _config: pipeline, **kwargs)
        task = group.create(worker.run, name="test-worker")
        task.start()
        return worker, task

    yield start
    assert group.shutdown(WAIT_MS) == [], "a worker did not stop"


def test_the_worker_takes_the_newest_frame_and_drops_the_ones_it_had_no_time_for(start_worker, face_video, qtbot) -> None:
    pipeline = GatedPipeline()
    pipeline.gate.clear()  # the first frame is held, as by a slow model
    worker, _task = start_worker(pipeline)
    worker.set_source(str(face_video), loop=True)
    qtbot.waitUntil(lambda: len(pipeline.calls) == 1, timeout=WAIT_MS)
    source = worker._source
    qtbot.waitUntil(lambda: source.dropped >= 3, timeout=WAIT_MS)  # the video went on meanwhile
    pipeline.gate.set()
    qtbot.waitUntil(lambda: len(pipeline.calls) >= 2, timeout=WAIT_MS)
    first, second = pipeline.calls[0][0], pipeline.calls[1][0]
    assert second >= first + 4  # the newest frame, not the next one: 3 or more were dropped
    qtbot.waitUntil(lambda: worker.take_latest() is not None, timeout=WAIT_MS)


def test_the_worker_matches_only_with_both_a_gallery_and_a_threshold(start_worker, face_video, qtbot) -> None:
    pipeline = GatedPipeline()
    worker, _task = start_worker(pipeline)
    gallery = object()  # the worker hands it on as it is
    worker.set_gallery(gallery)
    worker.set_source(str(face_video), loop=True)
    qtbot.waitUntil(lambda: len(pipeline.calls) >= 1, timeout=WAIT_MS)
    assert pipeline.calls[0][1:] == (None, None)  # no threshold yet: faces are found, not named
    worker.set_threshold(0.42)
    assert worker.threshold == pytest.approx(0.42)
    count = len(pipeline.calls)
    qtbot.waitUntil(lambda: len(pipeline.calls) > count + 1, timeout=WAIT_MS)
    assert pipeline.calls[-1][1] is gallery and pipeline.calls[-1][2] == pytest.approx(0.42)
    assert not hasattr(pipeline, "threshold")  # the worker keeps it; the pipeline holds none


def test_stop_ends_the_worker_promptly_even_with_a_camera_that_hangs(start_worker, qtbot) -> None:
    hang = threading.Event()

    class HungCamera:  # opens, then read() blocks, like a driver that stopped answering
        def isOpened(self) -> bool:
            return True

        def read(self):
            hang.wait(60)
            return False, None

        def set(self, *args) -> bool:
            return True

        def release(self) -> None:
            pass

    try:
        worker, task = start_worker(GatedPipeline(), open_fn=functools.partial(
            open_source, capture_factory=lambda spec: HungCamera(), reconnect_timeout_s=60.0))
        worker.set_source("0")
        qtbot.waitUntil(lambda: worker._source is not None, timeout=WAIT_MS)
        source = worker._source
        with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
            worker.stop()
        assert task.wait(WAIT_MS) and task.isFinished()
        assert source.closed and worker.stopping
    finally:
        hang.set()


def test_aborting_the_worker_task_closes_its_source(start_worker, face_video, qtbot) -> None:
    """The window's TaskGroup aborts tasks at shutdown: the loop ends at its next turn and
    closes what it opened, without stop() being called."""
    pipeline = GatedPipeline()
    worker, task = start_worker(pipeline)
    worker.set_source(str(face_video), loop=True)
    qtbot.waitUntil(lambda: len(pipeline.calls) >= 1, timeout=WAIT_MS)
    source = worker._source
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        task.abort()
    assert task.wait(WAIT_MS) and task.aborted
    assert source.closed


def test_a_jobs_error_arrives_as_an_error(start_worker, qtbot) -> None:
    worker, _task = start_worker(GatedPipeline())
    done: list[JobResult] = []
    worker.job_done.connect(done.append)

    def refuses(pipeline):
        raise FaceAppError("no face in photo.jpg")

    def breaks(pipeline):
        raise ValueError("a bug")

    ids = [worker.submit(lambda pipeline: pipeline.model_id), worker.submit(refuses), worker.submit(breaks)]
    qtbot.waitUntil(lambda: len(done) == 3, timeout=WAIT_MS)
    results = {r.job_id: r for r in done}
    assert results[ids[0]] == JobResult(ids[0], "stub-model")
    assert results[ids[1]] == JobResult(ids[1], error="no face in photo.jpg")
    assert results[ids[2]].value is None and results[ids[2]].error == "unexpected error: a bug"


def test_a_source_that_cannot_open_or_ends_is_reported(start_worker, face_video, tmp_path: Path, qtbot) -> None:
    worker, _task = start_worker(GatedPipeline())
    failed: list[tuple[str, bool]] = []
    ended: list[str] = []
    worker.source_failed.connect(lambda text, retry: failed.append((text, retry)))
    worker.source_ended.connect(ended.append)
    worker.set_source(str(tmp_path / "nope.avi"))
    qtbot.waitUntil(lambda: bool(failed), timeout=WAIT_MS)
    assert "nope.avi" in failed[0][0] and failed[0][1] is False  # a file is not retried
    worker.set_source(str(face_video))  # plays to its end once
    qtbot.waitUntil(lambda: bool(ended), timeout=WAIT_MS)
    assert ended == ["video faces.avi"]


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
