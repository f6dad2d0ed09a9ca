"""RGB frames from every kind of source (camera, stream, video file, folder, image), two ways.

The rest of faceapp never talks to OpenCV's capture API directly: it calls ``open_source`` and
either iterates ``Frame`` objects (the CLI: every frame of a file, in order) or asks
``latest(timeout)`` for the newest frame not handed out yet (the GUI: older ones are dropped and
counted, so a slow consumer never falls behind). At most one thread stands between a source
and its consumer: live sources (a camera index or a stream URL) are read in one daemon reader
thread each, because ``VideoCapture.read()`` can block forever on an unplugged camera or a dead
stream; a realtime-paced file or folder gets one reader thread when ``latest`` is first used,
and anything else is read in the consumer's own thread.
The consumer waits on a one-slot mailbox with a timeout, so a stalled live source is noticed,
reopened with a short backoff, and after ``max_reconnects`` consecutive failures reported as a
``CameraError`` instead of hanging the GUI or CLI.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
import weakref
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

# Longest single wait of an iterator for its next frame; close() wakes a waiting consumer at
# once, so this only bounds how often a long wait re-checks its state.
_POLL_S = 0.5
# How long close() waits for a reader thread to finish; a reader stuck in a driver call is
# abandoned (it is a daemon and releases its capture if the call ever returns).
_JOIN_S = 0.2
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


# OpenCV takes a camera index as a C int, and an index is a device number: no machine has more.
MAX_CAMERA_INDEX = 9999


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
        if not 0 <= spec <= MAX_CAMERA_INDEX:
            raise CameraError(f"camera index must be 0 to {MAX_CAMERA_INDEX}, got {spec}")
        return SourceSpec("camera", spec)
    text = str(spec).strip()
    if text.isdigit():
        return parse_source(int(text))
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


class _Mailbox:
    """The one-slot hand-over from a reader thread to the consumer.

    A newer item replaces an unread one (counted in ``dropped``), so the consumer always gets
    the newest frame and never a backlog. Each reader is a new *generation*; a put or an end
    from an older generation is ignored, so a reader abandoned inside a hung ``read()`` can
    never deliver into its successor's slot. ``close`` wakes a waiting consumer at once.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._generation = 0
        self._ended = False  # the current generation will put nothing more
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        # Facts about the current generation, read by LiveSource to notice a stall.
        self.active_at = time.monotonic()  # its start, its open, or its last put
        self.opened = False
        self.delivered = False

    def new_generation(self) -> int:
        with self._cond:
            if self._item is not None:  # never handed out: as good as dropped
                self.dropped += 1
            self._item = None
            self._generation += 1
            self._ended = False
            self._error = None
            self.opened = self.delivered = False
            self.active_at = time.monotonic()
            return self._generation

    def mark_open(self, generation: int) -> None:
        with self._cond:
            if generation == self._generation:
                self.opened = True
                self.active_at = time.monotonic()

    def put(self, generation: int, item: Any) -> None:
        with self._cond:
            if generation != self._generation or self._closed:
                return
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.delivered = True
            self.active_at = time.monotonic()
            self._cond.notify_all()

    def end(self, generation: int, error: BaseException | None = None) -> None:
        with self._cond:
            if generation == self._generation:
                self._ended = True
                self._error = error
                self._cond.notify_all()

    def take(self, timeout: float) -> tuple[Any, bool]:
        """(the newest item or None, whether the generation ended or the mailbox closed);
        waits up to ``timeout`` seconds for one of them."""
        with self._cond:
            if timeout > 0:
                self._cond.wait_for(lambda: self._item is not None or self._ended or self._closed, timeout)
            item, self._item = self._item, None
            return item, self._ended or self._closed

    def take_error(self) -> BaseException | None:
        """What ended the current generation, once (None for a plain end)."""
        with self._cond:
            error, self._error = self._error, None
            return error

    @property
    def finished(self) -> bool:
        """Ended or closed, with nothing left to hand out."""
        with self._cond:
            return (self._ended or self._closed) and self._item is None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()


class FrameSource:
    """Base of every source: a context manager, an iterator of ``Frame`` and ``latest()``.

    Iterate a source, or ask it for the ``latest`` frame, not both. ``close()`` is idempotent
    and may be called from another thread; a consumer waiting for a frame then returns at once
    (StopIteration, or None from ``latest``) instead of being left blocked.
    """

    def __init__(self, spec: SourceSpec, *, on_status: StatusCallback | None = None) -> None:
        self.spec = spec
        self.on_status = on_status
        self.skipped: list[tuple[str, str]] = []
        self._closed = threading.Event()
        self._next_index = 0
        self._realtime = False
        self._mailbox = _Mailbox()
        self._pump_lock = threading.Lock()
        self._pump: threading.Thread | None = None

    @property
    def is_live(self) -> bool:
        """True for cameras and streams: frames are dropped rather than queued, and there is no end."""
        return self.spec.kind in ("camera", "url")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def dropped(self) -> int:
        """Frames read but never handed out, because a newer one replaced them (``latest``)."""
        return self._mailbox.dropped

    @property
    def ended(self) -> bool:
        """No frame will come any more: the source was closed (by the caller, or after it failed
        for good), or its reader reached the end and its last frame was handed out."""
        return self.closed or self._mailbox.finished

    def describe(self) -> str:
        return self.spec.label()

    def latest(self, timeout: float = 0.0) -> Frame | None:
        """The newest frame not handed out yet, waiting up to ``timeout`` seconds for one; None
        when none came in time or the source is over (then ``ended`` is True). Older unread
        frames are dropped and counted in ``dropped``. Raises what reading raised (CameraError).

        A file or folder read as fast as possible has no newer frame than its next one, so it is
        handed out in this thread and nothing is dropped; a realtime-paced one is read ahead by
        one reader thread, started here on first use, at its own pace.
        """
        if not self._realtime:
            if self.closed:
                return None
            try:
                return self._next_frame()
            except StopIteration:
                self.close()
                return None
        self._start_pump()
        item, ended = self._mailbox.take(timeout)
        if item is not None:
            return item
        error = self._mailbox.take_error() if ended else None
        if error is not None:
            raise error
        return None

    def close(self) -> None:
        self._closed.set()
        self._mailbox.close()
        self._release()
        pump = self._pump
        if pump is not None and pump is not threading.current_thread():
            pump.join(timeout=_JOIN_S)

    def __iter__(self) -> FrameSource:
        return self

    def __next__(self) -> Frame:
        if not self._reads_ahead():  # plain iteration: every frame, read (and paced) in this thread
            if self.closed:
                raise StopIteration
            try:
                return self._next_frame()
            except StopIteration:
                self.close()
                raise
        while True:
            frame = self.latest(_POLL_S)
            if frame is not None:
                return frame
            if self.ended:
                raise StopIteration

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten source must not keep a camera busy
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}{' closed' if self.closed else ''}>"

    # --- for subclasses -----------------------------------------------------------------

    def _next_frame(self) -> Frame:
        """The next frame in order (raises StopIteration at the end); files and folders only."""
        raise NotImplementedError

    def _release(self) -> None:
        """Give back what the source holds open (a capture); may be called more than once."""

    def _reads_ahead(self) -> bool:
        return self._pump is not None

    def _start_pump(self) -> None:
        with self._pump_lock:
            if self._pump is not None or self.closed:
                return
            generation = self._mailbox.new_generation()
            # The thread holds the source only weakly, so a forgotten source is still collected
            # (and closed) instead of being read forever by its own reader.
            self._pump = threading.Thread(target=_pump, args=(weakref.ref(self), self._mailbox, generation),
                                          name=f"faceapp-reader {self.spec.label()}", daemon=True)
            self._pump.start()

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


def _pump(ref: weakref.ref[FrameSource], mailbox: _Mailbox, generation: int) -> None:
    """A file or folder's reader thread: reads its frames in order, at the source's own pace,
    into the mailbox, where a frame not taken before the next one arrives is dropped."""
    error: BaseException | None = None
    try:
        while True:
            source = ref()
            if source is None or source.closed:
                return
            try:
                frame = source._next_frame()
            except StopIteration:
                source._release()
                return
            mailbox.put(generation, frame)
            del source, frame
    except CameraError as exc:
        error = exc
    except Exception as exc:  # an OpenCV surprise ends this source, not the app
        source = ref()
        label = source.describe() if source is not None else "source"
        log.exception("reading %s failed", label)
        error = CameraError(f"{label}: {exc}")
    finally:
        mailbox.end(generation, error)


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

    def _release(self) -> None:
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

    def _next_frame(self) -> Frame:
        rewound = False
        while True:
            if self.closed:
                raise StopIteration
            ok, image, pos_ms = self._read()
            if ok:
                break
            if self.closed or not self._loop or rewound or not self._rewind():
                # rewound and still nothing: the file has no readable frame; stop rather than spin
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
    """One generation of a live capture: a daemon thread that reads into the source's mailbox.

    The thread owns its capture and releases it when it exits. If ``read()`` blocks forever, the
    thread is abandoned (it is a daemon) and releases the capture if ``read()`` ever returns; we
    never release a capture from another thread while it may be inside ``read()``.
    """

    def __init__(self, spec: SourceSpec, factory: CaptureFactory, cap: Any | None, buffer_one: bool,
                 mailbox: _Mailbox) -> None:
        self.reason = ""  # why this generation ended, for the log
        self.error: BaseException | None = None  # what the capture raised, if it did
        self.stop = threading.Event()
        self._spec = spec
        self._factory = factory
        self._cap = cap  # None: open it in the thread, so a hanging open cannot block the consumer
        self._buffer_one = buffer_one
        self._mailbox = mailbox
        self.generation = mailbox.new_generation()
        self.thread = threading.Thread(target=self._run, name=f"faceapp-reader {spec.label()}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        cap = self._cap
        try:
            if cap is None:
                with _quiet_opencv():
                    cap = self._factory(self._spec)
                if self.stop.is_set():
                    return
                if cap is None or not cap.isOpened():
                    self.reason = "cannot open"
                    return
                if self._buffer_one:  # ask the driver not to queue stale frames either
                    with contextlib.suppress(Exception):
                        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            self._mailbox.mark_open(self.generation)
            while not self.stop.is_set():
                ok, image = cap.read()
                captured = time.monotonic()
                if self.stop.is_set():
                    return
                if not ok or image is None:
                    self.reason = "read failed"
                    return
                self._mailbox.put(self.generation, (image, captured))
        except Exception as exc:  # a capture raising must end this generation, not the app
            self.reason = f"error: {exc}"
            self.error = exc
        finally:
            if cap is not None:  # released before the consumer hears of the end and reopens it
                with contextlib.suppress(Exception):
                    cap.release()
            self._mailbox.end(self.generation)

    def shutdown(self) -> None:
        self.stop.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=_JOIN_S)


class LiveSource(FrameSource):
    """A camera or stream: always the freshest frame, reopened when it stalls or fails.

    The reconnect logic runs in the consumer's calls (``latest``/``next``) and keeps its state
    between them, so a consumer polling with short timeouts sees the same backoff, status
    messages and final CameraError as one iterating without pause.
    """

    def __init__(
        self,
        spec: SourceSpec,
        capture_factory: CaptureFactory,
        *,
        reconnect_timeout_s: float = 2.0,
        max_reconnects: int = 5,
        on_status: StatusCallback | None = None,
        background_open: bool = False,
    ) -> None:
        super().__init__(spec, on_status=on_status)
        if reconnect_timeout_s <= 0:
            raise ValueError("reconnect_timeout_s must be positive")
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.max_reconnects = max(0, int(max_reconnects))
        self.reconnects = 0  # total reopen attempts over the source's life, for diagnostics
        self._factory = capture_factory
        self._lock = threading.Lock()  # guards _reader against close() from another thread
        self._consumer = threading.Lock()  # the reconnect state below is one consumer's
        self._failures = 0  # consecutive generations that ended without a frame
        self._reopen_at = 0.0  # while _reader is None: when the backoff is over
        # The first open happens in the reader thread: until it succeeds there is no stall
        # deadline (opening a stream may take long), and its failure is an open error.
        self._awaiting_open = background_open
        cap = None
        if not background_open:
            cap = _open_capture(spec, capture_factory)
            if spec.kind == "camera":
                with contextlib.suppress(Exception):
                    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._reader: _Reader | None = _Reader(spec, capture_factory, cap, spec.kind == "camera", self._mailbox)

    def _reads_ahead(self) -> bool:
        return True

    @property
    def ended(self) -> bool:
        """Only once closed (by the caller, or after giving up): a reader generation that ends
        is reopened, so its end is not the source's."""
        return self.closed

    def close(self) -> None:
        super().close()
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown()

    def latest(self, timeout: float = 0.0) -> Frame | None:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._consumer:
            while not self.closed:
                with self._lock:
                    reader = self._reader
                now = time.monotonic()
                if reader is None:  # between two generations: the backoff
                    if now < self._reopen_at:
                        if now >= deadline or self._closed.wait(min(self._reopen_at, deadline) - now):
                            return None
                        continue
                    self._reopen()
                    continue
                item, ended = self._mailbox.take(max(0.0, min(deadline, self._stall_at()) - now))
                if self.closed:
                    return None
                if item is not None:
                    return self._hand_out(item)
                if ended or time.monotonic() >= self._stall_at():
                    self._generation_failed(reader)  # raises CameraError when it gives up
                    continue
                if time.monotonic() >= deadline:
                    return None
        return None

    def _stall_at(self) -> float:
        """When the current generation counts as stalled: no frame for ``reconnect_timeout_s``
        (twice that before its first frame: opening or waking a camera takes longer)."""
        mailbox = self._mailbox
        if self._awaiting_open and not mailbox.opened:
            return math.inf
        factor = 1.0 if mailbox.delivered else _FIRST_FRAME_FACTOR
        return mailbox.active_at + self.reconnect_timeout_s * factor

    def _hand_out(self, item: tuple[np.ndarray, float]) -> Frame:
        self._awaiting_open = False
        if self._failures:
            self._status(f"reconnected to {self.describe()}")
            self._failures = 0
        image, captured = item
        return self._make_frame(_to_rgb(image), captured)

    def _generation_failed(self, reader: _Reader) -> None:
        if self._awaiting_open and not self._mailbox.opened:
            self.close()  # the first open failed: an error at once, as a synchronous open gives
            raise _open_failure(self.spec, reader.error)
        self._awaiting_open = False
        self._failures += 1
        log.warning("%s: %s", self.describe(), reader.reason or "stopped delivering frames")
        reader.shutdown()
        with self._lock:
            if self._reader is reader:
                self._reader = None
        if self._failures > self.max_reconnects:
            self.close()
            raise CameraError(f"{self.describe()} stopped delivering frames and could not be reopened")
        self._status(f"reconnecting to {self.describe()} (attempt {self._failures}/{self.max_reconnects})")
        self._reopen_at = time.monotonic() + min(_BACKOFF_MAX_S, _BACKOFF_START_S * 2 ** (self._failures - 1))

    def _reopen(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.reconnects += 1
            self._reader = _Reader(self.spec, self._factory, None, self.spec.kind == "camera", self._mailbox)


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

    def _next_frame(self) -> Frame:
        while not self.closed:
            if self._pos >= len(self.paths):
                # a pass with no readable image would loop forever without a frame: stop instead
                if not self._loop or self._delivered_this_pass == 0:
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


def _open_failure(spec: SourceSpec, exc: BaseException | None = None) -> CameraError:
    """The error for a source that cannot be opened, naming it and a likely cause."""
    if isinstance(exc, CameraError):
        return exc
    if exc is not None:
        return CameraError(f"cannot open {spec.label()}: {exc}")
    why = {
        "camera": "no such device or it is in use",
        "url": "unreachable, refused or in a format OpenCV cannot play",
        "video": "not a video OpenCV can decode",
    }.get(spec.kind, "cannot be read")
    return CameraError(f"cannot open {spec.label()}: {why}")


def _open_capture(spec: SourceSpec, factory: CaptureFactory) -> Any:
    """Open a capture or raise CameraError with a message that names the source and a likely cause."""
    try:
        cap = factory(spec)
    except CameraError:
        raise
    except Exception as exc:
        raise _open_failure(spec, exc) from exc
    if cap is None or not cap.isOpened():
        if cap is not None:
            with contextlib.suppress(Exception):
                cap.release()
        raise _open_failure(spec)
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
    background_open: bool = False,
) -> FrameSource:
    """Open any source as an iterator of RGB ``Frame``; raises CameraError if it cannot be opened.

    ``reconnect_timeout_s``/``max_reconnects`` apply to live sources (camera, url);
    ``loop`` restarts video files and folders at their end; ``realtime`` paces video files at
    their FPS (and folders as a slideshow) for display. ``capture_factory`` replaces
    ``cv2.VideoCapture`` for camera/url/video sources, which is how the reconnect logic is
    tested with recorded video instead of a webcam. ``background_open`` opens a camera or
    stream in its reader thread and returns at once, because opening a dead stream can block
    for many seconds; a failure to open is then raised by the first ``latest``/``next``.
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
            background_open=background_open,
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
