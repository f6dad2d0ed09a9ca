"""Frame sources, driven by real recorded video and the in-repo face photos (there is no webcam here)."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FACE_VIDEO_PEOPLE, FACE_VIDEO_REPEATS, write_video
from faceapp.camera import FrameSource, SourceSpec, list_cameras, open_source, parse_source
from faceapp.errors import CameraError
from faceapp.types import Frame

VIDEO_FRAMES = FACE_VIDEO_PEOPLE * FACE_VIDEO_REPEATS
PHOTO_SHAPE = (144, 144, 3)  # every in-repo face photo's (tests/data/README.md)


@pytest.fixture(scope="module")
def photos(repo_faces) -> list[Path]:
    """Three JPEG photos with distinct file names."""
    return list(repo_faces.hungry[:3])


# --- parse_source -------------------------------------------------------------------------


def test_parse_source_kinds(tmp_path: Path, face_video: Path, photos: list[Path]) -> None:
    assert parse_source(0) == SourceSpec("camera", 0)
    assert parse_source("2") == SourceSpec("camera", 2)
    assert parse_source("rtsp://user:pw@cam.local/live") == SourceSpec("url", "rtsp://user:pw@cam.local/live")
    assert parse_source("http://example.com/a.mjpg").kind == "url"
    assert parse_source(str(tmp_path)) == SourceSpec("folder", str(tmp_path))
    assert parse_source(str(photos[0])) == SourceSpec("image", str(photos[0]))
    assert parse_source(str(face_video)) == SourceSpec("video", str(face_video))
    assert parse_source(face_video.as_posix()).kind == "video"


def test_parse_source_unknown_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.avi"
    with pytest.raises(CameraError, match="no camera, file or folder named .*nope.avi"):
        parse_source(str(missing))
    with pytest.raises(CameraError, match="no camera, file or folder named 'webcam'"):
        parse_source("webcam")
    for index in ("99999999999999999999", -1):  # OpenCV would say 'Overload resolution failed'
        with pytest.raises(CameraError, match="camera index must be 0 to 9999"):
            parse_source(index)


def test_open_missing_path_and_bad_camera(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="ghost.mp4"):
        open_source(str(tmp_path / "ghost.mp4"))
    with pytest.raises(CameraError, match="cannot open camera 97: no such device or it is in use"):
        open_source(97)


def test_open_file_that_is_not_a_video(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(CameraError, match="cannot open video notes.txt"):
        open_source(str(notes))


def test_url_password_is_masked() -> None:
    spec = parse_source("rtsp://admin:secret@10.0.0.5:554/stream")
    assert "secret" not in spec.label()
    assert spec.label() == "stream rtsp://admin:***@10.0.0.5:554/stream"


# --- video files --------------------------------------------------------------------------


def test_video_yields_every_frame_then_stops(face_video: Path) -> None:
    with open_source(str(face_video)) as source:
        assert source.describe() == "video faces.avi"
        assert not source.is_live
        frames = list(source)
    assert len(frames) == VIDEO_FRAMES
    assert [f.index for f in frames] == list(range(VIDEO_FRAMES))
    assert source.dropped == 0
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[1] - stamps[0] == pytest.approx(0.1, abs=0.02)  # 10 fps file time, not wall time
    for frame in frames:
        assert isinstance(frame, Frame)
        assert frame.image.dtype == np.uint8 and frame.image.shape == (480, 640, 3)
        assert frame.image.flags.c_contiguous
        assert frame.path is None


def test_video_frames_are_rgb(tmp_path: Path) -> None:
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255  # RGB red
    video = write_video(tmp_path / "red.avi", [red], size=(160, 120), repeats=3)
    frames = list(open_source(str(video)))
    assert len(frames) == 3
    r, g, b = frames[0].image.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_video_loop_restarts(face_video: Path) -> None:
    with open_source(str(face_video), loop=True) as source:
        frames = list(itertools.islice(source, VIDEO_FRAMES * 2 + 5))
    assert len(frames) == VIDEO_FRAMES * 2 + 5
    assert [f.index for f in frames] == list(range(len(frames)))
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))  # keep increasing across the restart
    np.testing.assert_array_equal(frames[0].image, frames[VIDEO_FRAMES].image)


def test_realtime_paces_at_file_fps(face_video: Path) -> None:
    start = time.monotonic()
    with open_source(str(face_video), realtime=True) as source:
        frames = list(itertools.islice(source, 4))
    assert len(frames) == 4
    assert time.monotonic() - start >= 0.25  # 3 gaps of 0.1 s at 10 fps, minus scheduling slack


def test_close_from_another_thread_stops_a_looping_source(face_video: Path) -> None:
    source = open_source(str(face_video), loop=True, realtime=True)
    timer = threading.Timer(0.3, source.close)
    timer.start()
    count = sum(1 for _ in source)  # would run forever if close() did not stop it
    timer.join()
    assert count > 0
    assert source.closed
    source.close()  # idempotent
    assert list(source) == []


def _wait_for(condition, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; a generous deadline so a regression fails, not hangs."""
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_latest_of_a_file_read_as_fast_as_possible_is_every_frame_in_order(face_video: Path) -> None:
    with open_source(str(face_video)) as source:
        frames = []
        while (frame := source.latest(1.0)) is not None:
            frames.append(frame)
        assert source.ended and source.latest(0.1) is None
    assert [f.index for f in frames] == list(range(VIDEO_FRAMES))
    assert source.dropped == 0


def test_latest_of_a_paced_video_drops_the_older_frames_and_counts_them(face_video: Path) -> None:
    with open_source(str(face_video), realtime=True) as source:
        first = source.latest(10.0)
        assert first is not None and first.index == 0
        # Nobody takes frames now: each one the reader reads replaces the one before it, until
        # the last one; all of them but that last one are dropped.
        _wait_for(lambda: source.dropped == VIDEO_FRAMES - 2)
        newest = source.latest(10.0)
        assert newest is not None and newest.index == VIDEO_FRAMES - 1
        assert source.latest(0.5) is None and source.ended
        assert source.dropped == VIDEO_FRAMES - 2


def test_latest_from_another_threads_close_returns_at_once(face_video: Path) -> None:
    source = open_source(str(face_video), loop=True, realtime=True)
    assert source.latest(10.0) is not None
    threading.Timer(0.3, source.close).start()
    frames = 0
    while (frame := source.latest(60.0)) is not None:  # would wait a minute if close() did not wake it
        frames += 1
        assert frames < 10_000
    assert source.ended


# --- folders and images -------------------------------------------------------------------


def test_folder_skips_and_records_a_corrupt_image(tmp_path: Path, photos: list[Path]) -> None:
    for photo in photos:
        shutil.copy(photo, tmp_path / photo.name)
    corrupt = tmp_path / "x.jpg"
    corrupt.write_bytes(b"\x00garbage, not a jpeg\xff" * 10)
    with open_source(str(tmp_path)) as source:
        assert source.describe() == f"folder {tmp_path.name}/ (4 images)"
        frames = list(source)
    assert len(frames) == 3
    assert sorted(Path(f.path).name for f in frames) == sorted(p.name for p in photos)
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.image.dtype == np.uint8 and f.image.shape == PHOTO_SHAPE for f in frames)
    assert len(source.skipped) == 1
    path, reason = source.skipped[0]
    assert path == str(corrupt) and "x.jpg" in reason


def test_folder_loop_records_skip_once(tmp_path: Path, photos: list[Path]) -> None:
    shutil.copy(photos[0], tmp_path / "a.jpg")
    (tmp_path / "b.png").write_bytes(b"junk")
    with open_source(str(tmp_path), loop=True) as source:
        frames = list(itertools.islice(source, 5))
    assert len(frames) == 5 and {f.path for f in frames} == {str(tmp_path / "a.jpg")}
    assert len(source.skipped) == 1


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(CameraError, match="holds no images"):
        open_source(str(tmp_path))


def test_single_image(photos: list[Path]) -> None:
    with open_source(str(photos[0])) as source:
        assert source.describe() == f"image {photos[0].name}"
        frames = list(source)
    assert len(frames) == 1
    assert frames[0].path == str(photos[0])
    assert frames[0].image.shape == PHOTO_SHAPE and frames[0].image.dtype == np.uint8


def test_unreadable_single_image_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(CameraError, match="bad.png"):
        open_source(str(bad))


# --- live sources: reconnect logic with real captures of a recorded video -------------------


def _take(source, n: int, deadline_s: float) -> list[Frame]:
    """Up to n frames, giving up at the deadline so a regression fails instead of hanging."""
    frames: list[Frame] = []
    end = time.monotonic() + deadline_s
    for frame in source:
        frames.append(frame)
        if len(frames) >= n or time.monotonic() > end:
            break
    return frames


def test_live_source_that_ends_is_reopened(face_video: Path) -> None:
    """A video file opened as a "stream" ends like an unplugged camera; it must be reopened."""
    opens: list[int] = []
    statuses: list[str] = []

    def factory(spec: SourceSpec) -> cv2.VideoCapture:
        opens.append(1)
        return cv2.VideoCapture(str(spec.target))

    spec = SourceSpec("url", str(face_video))
    with open_source(spec, capture_factory=factory, reconnect_timeout_s=1.0, max_reconnects=3,
                     on_status=statuses.append) as source:
        assert source.is_live
        frames = []
        end = time.monotonic() + 8
        for frame in source:
            frames.append(frame)
            if len(opens) >= 4 and len(frames) >= 4 or time.monotonic() > end:
                break
    assert len(opens) >= 4, statuses
    assert f"reconnecting to stream {face_video} (attempt 1/3)" in statuses
    assert any(s.startswith("reconnected to") for s in statuses)
    assert [f.index for f in frames] == list(range(len(frames)))
    stamps = [f.timestamp for f in frames]
    assert all(b >= a for a, b in zip(stamps, stamps[1:]))  # monotonic capture times
    assert all(f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8 for f in frames)


def test_live_source_that_never_opens_raises(tmp_path: Path) -> None:
    spec = SourceSpec("url", str(tmp_path / "unplugged.avi"))
    with pytest.raises(CameraError, match="cannot open stream .*unplugged.avi"):
        open_source(spec, capture_factory=lambda s: cv2.VideoCapture(str(s.target)),
                    reconnect_timeout_s=0.2, max_reconnects=2)


def camera_that_dies(face_video: Path, tmp_path: Path, statuses: list[str], calls: list[int]) -> FrameSource:
    """Camera 7: its first open plays ``face_video``, then it is gone for good (``calls``
    counts the opens)."""

    def factory(spec: SourceSpec) -> cv2.VideoCapture:
        calls.append(1)
        return cv2.VideoCapture(str(face_video) if len(calls) == 1 else str(tmp_path / "gone.avi"))

    return open_source(SourceSpec("camera", 7), capture_factory=factory, reconnect_timeout_s=0.2,
                       max_reconnects=2, on_status=statuses.append)


def test_live_source_that_never_comes_back_raises(face_video: Path, tmp_path: Path) -> None:
    statuses: list[str] = []
    calls: list[int] = []
    source = camera_that_dies(face_video, tmp_path, statuses, calls)
    frames: list[Frame] = []
    with pytest.raises(CameraError, match="camera 7 stopped delivering frames and could not be reopened"):
        for frame in source:
            frames.append(frame)
            assert len(frames) < 1000, "the source never gave up"
    assert frames  # it did deliver before dying
    assert statuses == ["reconnecting to camera 7 (attempt 1/2)", "reconnecting to camera 7 (attempt 2/2)"]
    assert source.closed


class _StallingCapture:
    """A real capture of the recorded video whose read() blocks forever after a few frames,
    like a camera whose driver hangs; released only when the test ends."""

    def __init__(self, path: Path, frames_before_stall: int, release_stall: threading.Event) -> None:
        self._cap = cv2.VideoCapture(str(path))
        self._left = frames_before_stall
        self._release_stall = release_stall

    def isOpened(self) -> bool:
        return self._cap.isOpened()

    def read(self):
        if self._left <= 0:
            self._release_stall.wait()
            return False, None
        self._left -= 1
        time.sleep(0.01)
        return self._cap.read()

    def set(self, prop: int, value: float) -> bool:
        return self._cap.set(prop, value)

    def get(self, prop: int) -> float:
        return self._cap.get(prop)

    def release(self) -> None:
        self._cap.release()


def test_live_source_with_a_hanging_read_is_reopened(face_video: Path) -> None:
    unstall = threading.Event()
    statuses: list[str] = []
    captures: list[_StallingCapture] = []

    def factory(spec: SourceSpec) -> _StallingCapture:
        captures.append(_StallingCapture(face_video, 2, unstall))
        return captures[-1]

    try:
        with open_source(SourceSpec("camera", 0), capture_factory=factory, reconnect_timeout_s=0.3,
                         max_reconnects=2, on_status=statuses.append) as source:
            frames = _take(source, 3, deadline_s=8)
        assert len(frames) == 3
        assert len(captures) >= 2
        assert "reconnecting to camera 0 (attempt 1/2)" in statuses
    finally:
        unstall.set()


def test_close_from_another_thread_stops_a_waiting_live_source(face_video: Path) -> None:
    unstall = threading.Event()
    try:
        source = open_source(SourceSpec("camera", 0),
                             capture_factory=lambda s: _StallingCapture(face_video, 1, unstall),
                             reconnect_timeout_s=5.0, max_reconnects=5)
        threading.Timer(0.3, source.close).start()
        start = time.monotonic()
        frames = list(source)  # one frame, then blocks on the stalled read until close()
        assert len(frames) == 1
        assert time.monotonic() - start < 4.0
    finally:
        unstall.set()


def test_iterating_a_live_source_outlasts_a_long_reconnect_backoff(face_video: Path, tmp_path: Path) -> None:
    """Opens 2 to 5 fail, so the last backoff before the camera is back is longer than one of
    the iterator's waits; the iteration must go on through it, not stop."""
    calls: list[int] = []
    statuses: list[str] = []

    def factory(spec: SourceSpec) -> cv2.VideoCapture:
        calls.append(1)
        return cv2.VideoCapture(str(face_video) if len(calls) == 1 or len(calls) > 5 else str(tmp_path / "away.avi"))

    with open_source(SourceSpec("camera", 3), capture_factory=factory, reconnect_timeout_s=0.5, max_reconnects=5,
                     on_status=statuses.append) as source:
        frames: list[Frame] = []
        end = time.monotonic() + 60
        for frame in source:
            frames.append(frame)
            if len(calls) > 5 or time.monotonic() > end:
                break
    assert len(calls) == 6, statuses
    assert statuses[:4] == [f"reconnecting to camera 3 (attempt {n}/5)" for n in (1, 2, 3, 4)]
    assert statuses[-1] == "reconnected to camera 3"


def _decoded(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``video`` as RGB, read directly."""
    cap = cv2.VideoCapture(str(video))
    try:
        for _ in range(index + 1):
            ok, image = cap.read()
            assert ok
    finally:
        cap.release()
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_latest_of_a_live_source_is_its_newest_frame(face_video: Path) -> None:
    """A camera delivers FACE_VIDEO_REPEATS + 1 frames, then hangs; nobody takes them meanwhile,
    so latest() hands out the last one (the second person) and the ones before were dropped."""
    delivered = FACE_VIDEO_REPEATS + 1
    unstall = threading.Event()
    try:
        with open_source(SourceSpec("camera", 0), capture_factory=lambda s: _StallingCapture(face_video, delivered, unstall),
                         reconnect_timeout_s=60.0, max_reconnects=1) as source:
            _wait_for(lambda: source.dropped == delivered - 1)
            frame = source.latest(5.0)
            assert frame is not None and frame.index == 0  # live frames are numbered as handed out
            np.testing.assert_array_equal(frame.image, _decoded(face_video, delivered - 1))
            assert not np.array_equal(frame.image, _decoded(face_video, delivered - 2))  # another person
            assert source.latest(0.2) is None and not source.ended  # hung, but not given up on yet
            assert source.dropped == delivered - 1
    finally:
        unstall.set()


def test_a_live_source_polled_with_short_timeouts_reconnects_and_gives_up_as_iteration_does(
        face_video: Path, tmp_path: Path) -> None:
    statuses: list[str] = []
    calls: list[int] = []
    source = camera_that_dies(face_video, tmp_path, statuses, calls)
    frames: list[Frame] = []
    end = time.monotonic() + 30
    with pytest.raises(CameraError, match="camera 7 stopped delivering frames and could not be reopened"):
        while time.monotonic() < end:  # short waits: the reconnect state must carry over between calls
            frame = source.latest(0.01)
            if frame is not None:
                frames.append(frame)
            assert not source.ended  # waiting to reconnect is not the end
    assert frames
    assert statuses == ["reconnecting to camera 7 (attempt 1/2)", "reconnecting to camera 7 (attempt 2/2)"]
    assert source.closed and source.ended
    assert len(calls) == 3


def test_background_open_returns_at_once_and_a_failed_open_is_raised_by_latest(tmp_path: Path) -> None:
    entered = threading.Event()
    release = threading.Event()

    def dead_stream(spec: SourceSpec) -> cv2.VideoCapture:
        entered.set()
        release.wait(30)  # opening a dead stream blocks until the network gives up
        return cv2.VideoCapture(str(tmp_path / "dead.avi"))

    try:
        source = open_source("rtsp://cam.invalid/live", capture_factory=dead_stream, background_open=True)
        assert entered.wait(10)  # the reader thread is opening it; open_source did not wait
        assert source.latest(0.3) is None and not source.ended  # still opening: not a stall
        release.set()
        with pytest.raises(CameraError, match="cannot open stream rtsp://cam.invalid/live: unreachable"):
            end = time.monotonic() + 30
            while time.monotonic() < end:
                source.latest(0.5)
        assert source.closed
    finally:
        release.set()


def test_background_open_of_a_working_stream_delivers(face_video: Path) -> None:
    with open_source(SourceSpec("url", str(face_video)), capture_factory=lambda s: cv2.VideoCapture(str(s.target)),
                     background_open=True) as source:
        frame = source.latest(30.0)
        assert frame is not None and frame.image.shape == (480, 640, 3) and frame.image.dtype == np.uint8


def test_list_cameras_returns_ints() -> None:
    cameras = list_cameras(max_index=2)
    assert isinstance(cameras, list)
    assert all(isinstance(i, int) for i in cameras)
