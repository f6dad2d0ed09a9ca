"""One iterator of RGB frames over every kind of source: camera, stream, video file, folder, image.

The rest of faceapp never talks to OpenCV's capture API directly: it calls ``open_source`` and
iterates ``Frame`` objects. Live sources (a camera index or a stream URL) are read in a small
daemon thread because ``VideoCapture.read()`` can block forever on an unplugged camera or a dead
stream; the iterator waits on a one-slot queue with a timeout, so a stalled source is noticed,
reopened with a short backoff, and after ``max_reconnects`` consecutive failures reported as a
``CameraError`` instead of hanging the GUI or CLI.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from .errors import CameraError, ImageError
from .images import is_image_path, list_images, load_image
from .types import Frame

log = logging.getLogger(__name__)

SourceKind = Literal["camera", "video", "url", "folder", "image"]
StatusCallback = Callable[[str], None]
CaptureFactory = Callable[["SourceSpec"], Any]  # returns a cv2.VideoCapture-like object

# Seconds between polls of the frame queue: bounds how long close() from another thread takes
# to stop an iterator that is waiting for a frame.
_POLL_S = 0.05
# A freshly (re)opened live source gets this many reconnect timeouts to deliver its first
# frame: opening a stream or waking a camera takes longer than the gap between two frames.
_FIRST_FRAME_FACTOR = 2.0
# Backoff before reopening a live source: starts short (a replugged camera is back at once)
# and grows so a dead stream is not hammered.
_BACKOFF_START_S = 0.1
_BACKOFF_MAX_S = 2.0
# realtime=True shows folder/image sources as a slideshow at this many frames per second, so a
# looping still image does not spin a GUI at 100% CPU.
_SLIDESHOW_FPS = 2.0


@dataclass(frozen=True)
class SourceSpec:
    """What to open: ``kind`` decides how, ``target`` is a camera index, URL or path string."""

    kind: SourceKind
    target: int | str

    def label(self) -> str:
        """A short human name for messages, e.g. "camera 0" or "video clip.avi".

        Passwords in stream URLs are masked so they never reach logs or the GUI.
        """
        if self.kind == "camera":
            return f"camera {self.target}"
        if self.kind == "url":
            return f"stream {_redact_url(str(self.target))}"
        name = Path(str(self.target)).name or str(self.target)
        if self.kind == "folder":
            return f"folder {name}/"
        return f"{self.kind} {name}"


def _redact_url(url: str) -> str:
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)


def parse_source(spec: str | int | SourceSpec) -> SourceSpec:
    """Decide what kind of source the user means by ``spec``.

    Digits are a camera index, anything with "://" a stream, an existing folder a folder, an
    existing image file an image and any other existing file a video; the file system is only
    consulted for paths, so a camera index never collides with a file called "0".
    """
    if isinstance(spec, SourceSpec):
        return spec
    if isinstance(spec, bool):  # bool is an int; True is surely a mistake
        raise CameraError(f"no camera, file or folder named {spec!r}")
    if isinstance(spec, int):
        if spec < 0:
            raise CameraError(f"camera index must be 0 or more, got {spec}")
        return SourceSpec("camera", spec)
    text = str(spec).strip()
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if "://" in text:
        return SourceSpec("url", text)
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if path.is_file():
        return SourceSpec("image" if is_image_path(path) else "video", str(path))
    raise CameraError(f"no camera, file or folder named {str(spec)!r}")


def default_capture_factory(spec: SourceSpec) -> cv2.VideoCapture:
    """Open ``spec`` with OpenCV; the returned capture may be unopened (check ``isOpened``)."""
    return cv2.VideoCapture(spec.target)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_previous: int | None = None


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's stderr warnings (e.g. "can't open camera by index") while probing.

    The log level is process-wide and reader threads reopen captures concurrently, so nested
    uses are counted and only the outermost one restores the previous level.
    """
    global _quiet_depth, _quiet_previous
    utils_logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if utils_logging is None or not hasattr(utils_logging, "setLogLevel"):
        yield
        return
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_previous = utils_logging.getLogLevel()
            utils_logging.setLogLevel(utils_logging.LOG_LEVEL_SILENT)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_previous is not None:
                utils_logging.setLogLevel(_quiet_previous)


def list_cameras(max_index: int = 4) -> list[int]:
    """Camera indices below ``max_index`` that open and deliver a frame (for a GUI picker)."""
    found: list[int] = []
    with _quiet_opencv():
        for index in range(max_index):
            cap = cv2.VideoCapture(index)
            try:
                if cap.isOpened():
                    ok, image = cap.read()
                    if ok and image is not None:
                        found.append(index)
            finally:
                cap.release()
    return found


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """BGR/BGRA/gray capture output -> contiguous RGB uint8, the one format faceapp uses."""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FrameSource:
    """Base of every source: a context manager and an iterator of ``Frame``.

    ``close()`` is idempotent and may be called from another thread; the iterating thread then
    stops at its next frame (StopIteration) instead of being left blocked.
    """

    def __init__(self, spec: SourceSpec, *, on_status: StatusCallback | None = None) -> None:
        self.spec = spec
        self.on_status = on_status
        self.skipped: list[tuple[str, str]] = []
        self._closed = threading.Event()
        self._next_index = 0

    @property
    def is_live(self) -> bool:
        """True for cameras and streams: frames are dropped rather than queued, and there is no end."""
        return self.spec.kind in ("camera", "url")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def describe(self) -> str:
        return self.spec.label()

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> FrameSource:
        return self

    def __next__(self) -> Frame:
        raise NotImplementedError

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten source must not keep a camera busy
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}{' closed' if self.closed else ''}>"

    def _status(self, message: str) -> None:
        log.info(message)
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:  # a broken GUI hook must not kill the capture
                log.exception("on_status callback failed")

    def _make_frame(self, image: np.ndarray, timestamp: float, path: str | None = None) -> Frame:
        frame = Frame(image=image, index=self._next_index, timestamp=timestamp, path=path)
        self._next_index += 1
        return frame


class VideoFileSource(FrameSource):
    """A recorded video file: every frame in order, then StopIteration (or again from the start if ``loop``)."""

    def __init__(
        self,
        spec: SourceSpec,
        capture_factory: CaptureFactory,
        *,
        loop: bool = False,
        realtime: bool = False,
        on_status: StatusCallback | None = None,
    ) -> None:
        super().__init__(spec, on_status=on_status)
        self._factory = capture_factory
        self._loop = loop
        self._realtime = realtime
        self._lock = threading.Lock()  # read() and release() must not overlap across threads
        self._cap = _open_capture(spec, capture_factory)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and 0 < fps < 1000 else 0.0
        self._offset_s = 0.0  # added to file timestamps so they keep increasing across loops
        self._last_ts = -1.0
        self._pace_origin: tuple[float, float] | None = None  # (monotonic, timestamp) of pacing start

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def _read(self) -> tuple[bool, np.ndarray | None, float]:
        with self._lock:
            if self._cap is None:
                return False, None, 0.0
            ok, image = self._cap.read()
            pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) if ok else 0.0
            return ok and image is not None, image, pos_ms

    def _rewind(self) -> bool:
        """Start the file over; reopening is more reliable than seeking to 0 across codecs."""
        with self._lock:
            if self._cap is None:
                return False
            self._cap.release()
            self._cap = None
            cap = self._factory(self.spec)
            if not cap.isOpened():
                cap.release()
                return False
            self._cap = cap
        step = 1.0 / self.fps if self.fps else 0.0
        self._offset_s = self._last_ts + step
        self._pace_origin = None
        return True

    def __next__(self) -> Frame:
        rewound = False
        while True:
            if self.closed:
                raise StopIteration
            ok, image, pos_ms = self._read()
            if ok:
                break
            if self.closed or not self._loop or rewound or not self._rewind():
                # rewound and still nothing: the file has no readable frame; stop rather than spin
                self.close()
                raise StopIteration
            rewound = True
        assert image is not None
        timestamp = self._offset_s + pos_ms / 1000.0
        if timestamp <= self._last_ts:  # some containers report no or repeated positions
            timestamp = self._last_ts + (1.0 / self.fps if self.fps else 1e-3)
        self._last_ts = timestamp
        if self._realtime:
            self._pace(timestamp)
        return self._make_frame(_to_rgb(image), timestamp)

    def _pace(self, timestamp: float) -> None:
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, timestamp)
            return
        due = self._pace_origin[0] + (timestamp - self._pace_origin[1])
        if due > now:
            self._closed.wait(due - now)  # returns early when closed from another thread
        elif now - due > 1.0:  # fell far behind (slow consumer): restart pacing, do not rush
            self._pace_origin = (now, timestamp)


class _Reader:
    """One generation of a live capture: a daemon thread that reads and keeps only the latest frame.

    The thread owns its capture and releases it when it exits. If ``read()`` blocks forever, the
    thread is abandoned (it is a daemon) and releases the capture if ``read()`` ever returns; we
    never release a capture from another thread while it may be inside ``read()``.
    """

    def __init__(self, spec: SourceSpec, factory: CaptureFactory, cap: Any | None, buffer_one: bool) -> None:
        self.frames: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=1)
        self.dead = threading.Event()  # the capture failed to open or a read failed
        self.reason = ""
        self.stop = threading.Event()
        self._spec = spec
        self._factory = factory
        self._cap = cap  # None: open it in the thread, so a hanging reopen cannot block the iterator
        self._buffer_one = buffer_one
        self.thread = threading.Thread(target=self._run, name=f"faceapp-reader {spec.label()}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        cap = self._cap
        try:
            if cap is None:
                with _quiet_opencv():
                    cap = self._factory(self._spec)
                if not cap.isOpened():
                    self.reason = "cannot open"
                    return
                if self._buffer_one:  # ask the driver not to queue stale frames either
                    with contextlib.suppress(Exception):
                        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            while not self.stop.is_set():
                ok, image = cap.read()
                captured = time.monotonic()
                if self.stop.is_set():
                    return
                if not ok or image is None:
                    self.reason = "read failed"
                    return
                self._put_latest((image, captured))
        except Exception as exc:  # a capture raising must end this generation, not the app
            self.reason = f"error: {exc}"
        finally:
            self.dead.set()
            if cap is not None:
                with contextlib.suppress(Exception):
                    cap.release()

    def _put_latest(self, item: tuple[np.ndarray, float]) -> None:
        try:
            self.frames.put_nowait(item)
        except queue.Full:  # drop the stale frame; we are the only producer so the put then fits
            with contextlib.suppress(queue.Empty):
                self.frames.get_nowait()
            with contextlib.suppress(queue.Full):
                self.frames.put_nowait(item)

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(timeout=0.2)


class LiveSource(FrameSource):
    """A camera or stream: always the freshest frame, reopened when it stalls or fails."""

    def __init__(
        self,
        spec: SourceSpec,
        capture_factory: CaptureFactory,
        *,
        reconnect_timeout_s: float = 2.0,
        max_reconnects: int = 5,
        on_status: StatusCallback | None = None,
    ) -> None:
        super().__init__(spec, on_status=on_status)
        if reconnect_timeout_s <= 0:
            raise ValueError("reconnect_timeout_s must be positive")
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.max_reconnects = max(0, int(max_reconnects))
        self.reconnects = 0  # total reopen attempts over the source's life, for diagnostics
        self._factory = capture_factory
        self._lock = threading.Lock()
        cap = _open_capture(spec, capture_factory)
        if spec.kind == "camera":
            with contextlib.suppress(Exception):
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._reader: _Reader | None = _Reader(spec, capture_factory, cap, spec.kind == "camera")
        self._fresh = True  # the current reader has not delivered a frame yet

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown()

    def _wait_for_frame(self, reader: _Reader) -> tuple[np.ndarray, float] | None:
        """The next frame of this generation, or None when it died or stayed silent too long."""
        timeout = self.reconnect_timeout_s * (_FIRST_FRAME_FACTOR if self._fresh else 1.0)
        deadline = time.monotonic() + timeout
        while not self.closed:
            try:
                return reader.frames.get(timeout=min(_POLL_S, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pass
            if reader.dead.is_set() and reader.frames.empty():
                return None
            if time.monotonic() >= deadline:
                reader.reason = reader.reason or f"no frame for {timeout:g} s"
                return None
        return None

    def __next__(self) -> Frame:
        failures = 0
        while True:
            with self._lock:
                reader = self._reader
            if self.closed or reader is None:
                raise StopIteration
            item = self._wait_for_frame(reader)
            if self.closed:
                raise StopIteration
            if item is not None:
                if failures:
                    self._status(f"reconnected to {self.describe()}")
                self._fresh = False
                image, captured = item
                return self._make_frame(_to_rgb(image), captured)
            failures += 1
            log.warning("%s: %s", self.describe(), reader.reason or "stopped delivering frames")
            reader.shutdown()
            if failures > self.max_reconnects:
                self.close()
                raise CameraError(f"{self.describe()} stopped delivering frames and could not be reopened")
            self._status(f"reconnecting to {self.describe()} (attempt {failures}/{self.max_reconnects})")
            backoff = min(_BACKOFF_MAX_S, _BACKOFF_START_S * 2 ** (failures - 1))
            if self._closed.wait(backoff):
                raise StopIteration
            self.reconnects += 1
            with self._lock:
                if self.closed:
                    raise StopIteration
                self._reader = _Reader(self.spec, self._factory, None, self.spec.kind == "camera")
                self._fresh = True


class ImageFolderSource(FrameSource):
    """The images of a folder (or one image) in name order; unreadable files are skipped and recorded."""

    def __init__(
        self,
        spec: SourceSpec,
        paths: list[Path],
        *,
        loop: bool = False,
        realtime: bool = False,
        on_status: StatusCallback | None = None,
        preloaded: dict[Path, np.ndarray] | None = None,
    ) -> None:
        super().__init__(spec, on_status=on_status)
        self.paths = paths
        self._preloaded = dict(preloaded or {})  # images already decoded at open, used once
        self._loop = loop
        self._realtime = realtime
        self._pos = 0
        self._delivered_this_pass = 0
        self._last_emit: float | None = None

    def describe(self) -> str:
        if self.spec.kind == "folder":
            n = len(self.paths)
            return f"{self.spec.label()} ({n} image{'s' if n != 1 else ''})"
        return self.spec.label()

    def __next__(self) -> Frame:
        while not self.closed:
            if self._pos >= len(self.paths):
                # a pass with no readable image would loop forever without a frame: stop instead
                if not self._loop or self._delivered_this_pass == 0:
                    self.close()
                    break
                self._pos = 0
                self._delivered_this_pass = 0
            path = self.paths[self._pos]
            self._pos += 1
            try:
                image = self._preloaded.pop(path, None)
                if image is None:
                    image = load_image(path)
            except ImageError as exc:
                if not any(p == str(path) for p, _ in self.skipped):
                    log.warning("skipping %s", exc)
                    self.skipped.append((str(path), str(exc)))
                continue
            self._delivered_this_pass += 1
            if self._realtime:
                self._pace()
                if self.closed:
                    break
            return self._make_frame(image, time.monotonic(), str(path))
        raise StopIteration

    def _pace(self) -> None:
        now = time.monotonic()
        if self._last_emit is not None:
            wait = self._last_emit + 1.0 / _SLIDESHOW_FPS - now
            if wait > 0:
                self._closed.wait(wait)
        self._last_emit = time.monotonic()


def _open_capture(spec: SourceSpec, factory: CaptureFactory) -> Any:
    """Open a capture or raise CameraError with a message that names the source and a likely cause."""
    try:
        cap = factory(spec)
    except CameraError:
        raise
    except Exception as exc:
        raise CameraError(f"cannot open {spec.label()}: {exc}") from exc
    if cap is None or not cap.isOpened():
        if cap is not None:
            with contextlib.suppress(Exception):
                cap.release()
        why = {
            "camera": "no such device or it is in use",
            "url": "unreachable, refused or in a format OpenCV cannot play",
            "video": "not a video OpenCV can decode",
        }.get(spec.kind, "cannot be read")
        raise CameraError(f"cannot open {spec.label()}: {why}")
    return cap


def open_source(
    spec: str | int | SourceSpec,
    *,
    reconnect_timeout_s: float = 2.0,
    max_reconnects: int = 5,
    loop: bool = False,
    realtime: bool = False,
    on_status: StatusCallback | None = None,
    capture_factory: CaptureFactory | None = None,
) -> FrameSource:
    """Open any source as an iterator of RGB ``Frame``; raises CameraError if it cannot be opened.

    ``reconnect_timeout_s``/``max_reconnects`` apply to live sources (camera, url);
    ``loop`` restarts video files and folders at their end; ``realtime`` paces video files at
    their FPS (and folders as a slideshow) for display. ``capture_factory`` replaces
    ``cv2.VideoCapture`` for camera/url/video sources, which is how the reconnect logic is
    tested with recorded video instead of a webcam.
    """
    source_spec = parse_source(spec)
    factory = capture_factory or default_capture_factory
    kind = source_spec.kind
    if kind in ("camera", "url"):
        return LiveSource(
            source_spec,
            factory,
            reconnect_timeout_s=reconnect_timeout_s,
            max_reconnects=max_reconnects,
            on_status=on_status,
        )
    if kind == "video":
        return VideoFileSource(source_spec, factory, loop=loop, realtime=realtime, on_status=on_status)
    if kind == "folder":
        folder = Path(str(source_spec.target))
        try:
            paths = list_images(folder)
        except OSError as exc:
            raise CameraError(f"cannot read folder {folder}: {exc.strerror or exc}") from exc
        if not paths:
            raise CameraError(f"folder {folder} holds no images")
        return ImageFolderSource(source_spec, paths, loop=loop, realtime=realtime, on_status=on_status)
    if kind == "image":
        path = Path(str(source_spec.target))
        try:  # fail at open, with the reason, rather than yield nothing
            image = load_image(path)
        except ImageError as exc:
            raise CameraError(f"cannot read image {path}: {exc}") from exc
        return ImageFolderSource(
            source_spec, [path], loop=loop, realtime=realtime, on_status=on_status, preloaded={path: image}
        )
    raise CameraError(f"unknown source kind {kind!r}")
