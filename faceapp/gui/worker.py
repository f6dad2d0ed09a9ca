"""Capture and inference off the GUI thread.

:class:`VideoWorker` is a QObject moved to a QThread. Its ``run`` loop loads the pipeline once,
takes the newest frame from a :class:`FrameGrabber`, runs ``Pipeline.process`` on it and
publishes the result in a one-slot mailbox (``take_latest``), signalling the GUI only when the
mailbox was empty: frames and results are dropped, never queued. Everything the GUI asks of it
(``set_source``, ``set_gallery``, ``submit``, ``stop`` ...) is thread-safe and non-blocking;
``stop`` sets a flag and closes the source, so the loop ends within one frame's processing.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import cv2
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from ..camera import FrameSource, open_source, parse_source
from ..config import Settings
from ..errors import FaceAppError
from ..match import Gallery
from ..pipeline import Pipeline, open_pipeline
from ..types import Frame, FrameResult

log = logging.getLogger(__name__)

PipelineFactory = Callable[[Settings], Pipeline]
OpenSource = Callable[..., FrameSource]
Job = Callable[[Pipeline | None], Any]

_POLL_S = 0.1  # longest the loop sleeps before looking at requests again


def default_pipeline_factory(settings: Settings) -> Pipeline:
    return open_pipeline(
        settings.model_path,
        settings.detector_model,
        settings.device,
        settings.threshold,
        settings.detection_score,
        settings.max_detect_side,
        settings.threads,
    )


def is_live(spec: str) -> bool:
    """True for cameras and streams (they get retried when they fail), False for files or errors."""
    try:
        return parse_source(spec).kind in ("camera", "url")
    except FaceAppError:
        return False


def source_label(spec: str) -> str:
    try:
        return parse_source(spec).label()
    except FaceAppError:
        return spec


@dataclass(frozen=True)
class PipelineInfo:
    """What the status bar and the settings dialog need to know about the loaded pipeline."""

    model_id: str
    device: str
    detector: str
    detector_quality: str  # "high" or "low"
    threshold: float
    thresholds: dict[str, float]
    default_level: str
    dim: int
    runtime: str = "torch"  # "onnx": ONNX Runtime runs the encoder on the CPU

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineInfo:
        card = pipeline.encoder.card
        return cls(
            model_id=pipeline.model_id,
            device=str(pipeline.encoder.device),
            detector=str(getattr(pipeline.detector, "name", type(pipeline.detector).__name__)),
            detector_quality=str(getattr(pipeline.detector, "quality", "high")),
            threshold=float(pipeline.threshold),
            thresholds=dict(card.thresholds),
            default_level=card.default_level,
            dim=int(card.dim),
            runtime=str(getattr(pipeline.encoder, "runtime", "torch")),
        )


@dataclass(frozen=True)
class JobResult:
    job_id: int
    value: Any = None
    error: str | None = None


class FrameGrabber:
    """Opens a source and iterates it in a daemon thread, keeping only the newest frame.

    Opening happens in the thread too, because opening a dead stream can block for many seconds;
    ``close`` never waits more than a moment for the thread.
    """

    def __init__(self, spec: str, open_fn: OpenSource, on_status: Callable[[str], None], **open_kwargs: Any) -> None:
        self.spec = spec
        self.error: str | None = None
        self.done = False
        self.dropped = 0
        self.source: FrameSource | None = None
        self._open_fn = open_fn
        self._open_kwargs = open_kwargs
        self._on_status = on_status
        self._frame: Frame | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"faceapp-grabber {spec}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            source = self._open_fn(self.spec, on_status=self._on_status, **self._open_kwargs)
            with self._cond:
                self.source = source
                closed = self._closed
            if closed:
                source.close()
                return
            for frame in source:
                with self._cond:
                    if self._frame is not None:
                        self.dropped += 1
                    self._frame = frame
                    self._cond.notify_all()
        except FaceAppError as exc:
            self.error = str(exc)
        except Exception as exc:  # an OpenCV surprise must end this source, not the app
            log.exception("source %s failed", self.spec)
            self.error = f"{source_label(self.spec)}: {exc}"
        finally:
            with self._cond:
                self.done = True
                self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest frame not taken yet, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            if self._frame is None and not self.done:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame

    @property
    def finished(self) -> bool:
        """The source ended or failed and its last frame was taken."""
        with self._cond:
            return self.done and self._frame is None

    def close(self, wait_s: float = 0.5) -> None:
        with self._cond:
            self._closed = True
            source = self.source
        if source is not None:
            source.close()
        self._thread.join(timeout=wait_s)


class VideoWorker(QObject):
    """The capture + inference loop; see the module docstring. Create it, move it to a QThread,
    connect ``thread.started`` to ``run`` and ``finished`` to ``thread.quit``."""

    result_ready = Signal()  # a new FrameResult waits in take_latest()
    pipeline_ready = Signal(object)  # PipelineInfo
    pipeline_failed = Signal(str)
    source_started = Signal(str)  # label; the first frame arrived (also after a reconnect)
    source_status = Signal(str)  # progress messages from the source (reconnecting ...)
    source_failed = Signal(str, bool)  # message, whether it will be retried
    source_ended = Signal(str)  # label; a video file or folder reached its end
    job_done = Signal(object)  # JobResult
    finished = Signal()

    def __init__(
        self,
        settings: Settings,
        pipeline_factory: PipelineFactory | None = None,
        open_fn: OpenSource = open_source,
        retry_s: float = 3.0,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._factory = pipeline_factory or default_pipeline_factory
        self._open_fn = open_fn
        self.retry_s = float(retry_s)
        self.pipeline: Pipeline | None = None  # used in the worker thread only
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._latest: FrameResult | None = None
        self._notified = False
        self._gallery: Gallery | None = None
        self._threshold: float | None = None
        self._reload = False
        self._source_request: tuple[str | None, bool, int | None] | None = None
        self._jobs: deque[tuple[int, Job]] = deque()
        self._job_ids = itertools.count(1)
        self._grabber: FrameGrabber | None = None
        self._spec: str | None = None
        self._loop = False
        self._max_side: int | None = None
        self._retry_at: float | None = None
        self._started = False
        self.processing_error: str | None = None

    # --- called from the GUI thread -----------------------------------------------------

    def set_source(self, spec: str | None, loop: bool = False, max_side: int | None = None) -> None:
        """Switch to ``spec`` (None: stop capturing); takes effect at the loop's next turn."""
        with self._lock:
            self._source_request = (spec, loop, max_side)
        self._wake.set()

    def set_gallery(self, gallery: Gallery | None) -> None:
        self._gallery = gallery  # immutable; one reference assignment is atomic

    def set_threshold(self, threshold: float) -> None:
        self._threshold = float(threshold)

    @property
    def threshold(self) -> float | None:
        """The threshold asked for; the worker applies it to the pipeline before the next frame."""
        return self._threshold

    def reload(self, settings: Settings) -> None:
        """Load the pipeline again (another model or device) before the next frame."""
        with self._lock:
            self._settings = settings
            self._reload = True
        self._wake.set()

    def submit(self, job: Job) -> int:
        """Run ``job(pipeline)`` in the worker thread between frames; ``job_done`` brings its result."""
        job_id = next(self._job_ids)
        with self._lock:
            self._jobs.append((job_id, job))
        self._wake.set()
        return job_id

    def take_latest(self) -> FrameResult | None:
        """The newest result (None if already taken); re-arms ``result_ready``."""
        with self._lock:
            result, self._latest = self._latest, None
            self._notified = False
        return result

    def stop(self) -> None:
        """Ask the loop to end: it closes the source and emits ``finished``. Never blocks."""
        self._stop.set()
        self._wake.set()
        grabber = self._grabber
        if grabber is not None and grabber.source is not None:
            grabber.source.close()  # thread-safe; unblocks a paced video or a waiting camera

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop (worker thread) --------------------------------------------------------

    @Slot()
    def run(self) -> None:
        try:
            self._load_pipeline()
            while not self._stop.is_set():
                self._apply_requests()
                self._run_jobs()
                if self._stop.is_set():
                    break
                if self._grabber is None:
                    self._maybe_retry()
                    self._wake.wait(_POLL_S)
                    self._wake.clear()
                    continue
                frame = self._grabber.take(_POLL_S)
                if frame is not None:
                    self._process(frame)
                elif self._grabber.finished:
                    self._source_over()
        except Exception:  # keep the GUI alive and the thread joinable whatever happens
            log.exception("video worker crashed")
        finally:
            if self._grabber is not None:
                self._grabber.close()
                self._grabber = None
            app = QCoreApplication.instance()
            if app is not None:  # hand the object back, so it is deleted in the GUI thread
                self.moveToThread(app.thread())
            self.finished.emit()

    def _load_pipeline(self) -> None:
        with self._lock:
            settings, self._reload = self._settings, False
        self.pipeline = None
        try:
            pipeline = self._factory(settings)
        except FaceAppError as exc:
            self.pipeline_failed.emit(str(exc))
            return
        except Exception as exc:
            log.exception("loading the pipeline failed")
            self.pipeline_failed.emit(f"cannot load the face model: {exc}")
            return
        self.pipeline = pipeline
        self.pipeline_ready.emit(PipelineInfo.of(pipeline))

    def _apply_requests(self) -> None:
        with self._lock:
            request, self._source_request = self._source_request, None
            reload = self._reload
        if reload:
            self._load_pipeline()
        if request is not None:
            spec, loop, max_side = request
            self._close_source()
            self._spec, self._loop, self._max_side = spec, loop, max_side
            if spec is not None:
                self._open()

    def _open(self) -> None:
        assert self._spec is not None
        self._retry_at = None
        self._started = False
        self._grabber = FrameGrabber(
            self._spec, self._open_fn, self.source_status.emit, realtime=True, loop=self._loop, **self._capture_kwargs()
        )

    def _capture_kwargs(self) -> dict[str, Any]:
        """Ask a camera for the chosen resolution (other sources are downscaled after decoding)."""
        if self._max_side is None or self._spec is None or self._open_fn is not open_source:
            return {}
        try:
            if parse_source(self._spec).kind != "camera":
                return {}
        except FaceAppError:
            return {}
        side = self._max_side

        def factory(spec: Any) -> cv2.VideoCapture:
            cap = cv2.VideoCapture(spec.target)
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, side)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, side * 3 // 4)
            return cap

        return {"capture_factory": factory}

    def _close_source(self) -> None:
        if self._grabber is not None:
            self._grabber.close()
            self._grabber = None
        self._retry_at = None

    def _source_over(self) -> None:
        grabber, self._grabber = self._grabber, None
        assert grabber is not None and self._spec is not None
        if self._stop.is_set():
            return
        if grabber.error is None:
            label = source_label(self._spec)
            skipped = list(getattr(grabber.source, "skipped", []))  # an image folder's unreadable files
            total = len(getattr(grabber.source, "paths", []))
            if skipped and len(skipped) >= total:  # not one frame: that is a failure, not an end
                self.source_failed.emit(f"{label}: none of its {total} image{'s' if total != 1 else ''} could be "
                                        f"read ({skipped[0][1]})", False)
                return
            plural = "s" if len(skipped) != 1 else ""
            self.source_ended.emit(f"{label} ({len(skipped)} unreadable image{plural} skipped)" if skipped else label)
            return
        retry = is_live(self._spec)
        if retry:
            self._retry_at = time.monotonic() + self.retry_s
        self.source_failed.emit(grabber.error, retry)

    def _maybe_retry(self) -> None:
        if self._retry_at is not None and time.monotonic() >= self._retry_at and self._spec is not None:
            self.source_status.emit(f"trying {source_label(self._spec)} again ...")
            self._open()

    def _run_jobs(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._jobs:
                    return
                job_id, job = self._jobs.popleft()
            try:
                result = JobResult(job_id, job(self.pipeline))
            except FaceAppError as exc:
                result = JobResult(job_id, error=str(exc))
            except Exception as exc:
                log.exception("job %d failed", job_id)
                result = JobResult(job_id, error=f"unexpected error: {exc}")
            self.job_done.emit(result)

    def _process(self, frame: Frame) -> None:
        if not self._started:
            self._started = True
            self.source_started.emit(source_label(self._spec or ""))
        frame = self._fit(frame)
        pipeline = self.pipeline
        if pipeline is None:  # no model: still show the video
            result = FrameResult(frame, ())
        else:
            if self._threshold is not None and pipeline.threshold != self._threshold:
                pipeline.threshold = self._threshold
            try:
                result = pipeline.process(frame, self._gallery, keep_crops=True)
                self.processing_error = None
            except Exception as exc:  # e.g. a gallery of another model's dimension
                if self.processing_error is None:
                    log.exception("processing a frame failed")
                    self.source_status.emit(f"cannot process frames: {exc}")
                self.processing_error = str(exc)
                result = FrameResult(frame, ())
        with self._lock:
            self._latest = result
            notify = not self._notified
            self._notified = True
        if notify:
            self.result_ready.emit()

    def _fit(self, frame: Frame) -> Frame:
        side = self._max_side
        h, w = frame.image.shape[:2]
        if side is None or max(h, w) <= side:
            return frame
        scale = side / max(h, w)
        image = cv2.resize(frame.image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return replace(frame, image=image)
