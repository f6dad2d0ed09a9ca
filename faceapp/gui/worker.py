"""Capture and inference off the GUI thread.

A frame crosses two threads: the source's reader thread decodes it into a one-slot mailbox, and
the worker thread takes the newest one with ``source.latest(timeout)`` (older unread frames are
dropped), runs ``Pipeline.process`` on it and leaves the result in a one-slot mailbox of its own
(``take_latest``), signalling the GUI thread only when that was empty. Nothing is queued on the
way, so the picture never lags behind the camera.

:class:`VideoWorker` is that loop. Its ``run`` is a generator run by a
:class:`~faceapp.gui.tasks.Task`, the abstraction every other job off the GUI thread uses too,
so aborting the task ends the loop at its next turn. Everything the GUI asks of it
(``set_source``, ``set_gallery``, ``submit``, ``stop`` ...) is thread-safe and non-blocking;
``stop`` sets a flag and closes the source, so the loop ends within one frame's processing.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import cv2
from PySide6.QtCore import QObject, Signal

from ..app import AppConfig
from ..app.context import PipelineFactory, load_pipeline
from ..camera import FrameSource, open_source, parse_source
from ..cohort import Cohort
from ..errors import FaceAppError
from ..match import Gallery
from ..types import Frame, FrameResult

if TYPE_CHECKING:  # annotations only: the pipeline module loads torch
    from ..follow import FaceFollower
    from ..pipeline import Pipeline

log = logging.getLogger(__name__)

OpenSource = Callable[..., FrameSource]  # open_source's signature (the worker passes background_open)
Job = Callable[["Pipeline | None"], Any]

_POLL_S = 0.1  # longest the loop waits for a frame before looking at requests again

default_pipeline_factory: PipelineFactory = load_pipeline


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
    thresholds: dict[str, float]
    default_level: str
    dim: int
    runtime: str = "torch"  # "onnx": ONNX Runtime runs the encoder on the CPU
    cohort: Cohort | None = None  # what the model's galleries are judged with (Gallery.with_cohort)

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineInfo:
        card = pipeline.encoder.card
        return cls(
            model_id=pipeline.model_id,
            device=str(pipeline.encoder.device),
            detector=str(getattr(pipeline.detector, "name", type(pipeline.detector).__name__)),
            detector_quality=str(getattr(pipeline.detector, "quality", "high")),
            thresholds=dict(card.thresholds),
            default_level=card.default_level,
            dim=int(card.dim),
            runtime=str(getattr(pipeline.encoder, "runtime", "torch")),
            cohort=pipeline.cohort,
        )


@dataclass(frozen=True)
class JobResult:
    job_id: int
    value: Any = None
    error: str | None = None


class VideoWorker(QObject):
    """The capture + inference loop; see the module docstring. Run ``run`` in a Task
    (``TaskGroup.create(worker.run).start()``); ``finished`` comes when the loop has ended."""

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
        config: AppConfig,
        pipeline_factory: PipelineFactory | None = None,
        open_fn: OpenSource = open_source,
        retry_s: float = 3.0,
    ) -> None:
        super().__init__()
        self._config = config
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
        # Faces are tracked, and each is shown with its track's decision (faceapp.follow); every
        # face is encoded in every frame unless told otherwise, as live verify and enroll need it.
        self._follower: FaceFollower | None = None
        self._last_frame: Frame | None = None  # the source's newest frame, for the result that ends its tracks
        self._encode_every_frame = True
        self._reload = False
        self._source_request: tuple[str | None, bool, int | None] | None = None
        self._jobs: deque[tuple[int, Job]] = deque()
        self._job_ids = itertools.count(1)
        self._source: FrameSource | None = None  # opened, read and closed in the worker thread
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

    def set_config(self, config: AppConfig) -> None:
        """The settings the next frame is decided by (open-set level, margin, a --threshold that
        no longer applies); a new model or device also needs ``reload``."""
        with self._lock:
            self._config = config

    def set_threshold(self, threshold: float | None) -> None:
        """The distance threshold faces are matched under from the next frame on (None: none)."""
        self._threshold = None if threshold is None else float(threshold)

    def set_encode_every_frame(self, every: bool) -> None:
        """False: encode a tracked face only when its track needs it (identify mode's speed-up);
        True: every face of every frame, as live verify and enroll need."""
        self._encode_every_frame = bool(every)

    @property
    def config(self) -> AppConfig:
        """The settings the next frame is decided by."""
        return self._config

    @property
    def threshold(self) -> float | None:
        """The threshold the next frame is matched under; faces are only named when both it
        and a gallery are set."""
        return self._threshold

    def reload(self, config: AppConfig) -> None:
        """Load the pipeline again (another model or device) before the next frame."""
        with self._lock:
            self._config = config
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
        source = self._source
        if source is not None:
            source.close()  # thread-safe; wakes a loop waiting in latest() at once

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop (worker thread) --------------------------------------------------------

    def run(self) -> Iterator[None]:
        """The loop, one turn per ``yield``, so the Task running it can end it between turns
        when aborted; ``stop`` ends it too, and also wakes it from a wait."""
        try:
            self._load_pipeline()
            while not self._stop.is_set():
                self._apply_requests()
                self._run_jobs()
                if self._stop.is_set():
                    break
                if self._source is None:
                    self._maybe_retry()
                    self._wake.wait(_POLL_S)
                    self._wake.clear()
                else:
                    self._take_frame(self._source)
                yield
        except Exception:  # keep the GUI alive and the thread joinable whatever happens
            log.exception("video worker crashed")
        finally:
            self._close_source()
            self.finished.emit()

    def _load_pipeline(self) -> None:
        with self._lock:
            config, self._reload = self._config, False
        self.pipeline = None
        try:
            pipeline = self._factory(config)
        except FaceAppError as exc:
            self.pipeline_failed.emit(str(exc))
            return
        except Exception as exc:
            log.exception("loading the pipeline failed")
            self.pipeline_failed.emit(f"cannot load the face model: {exc}")
            return
        self.pipeline = pipeline
        self._follower = None  # made again for this pipeline at the next frame
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
            if spec is None:  # stopped: the window keeps its source's name and session, so its tracks end now
                self._end_tracks()
            self._spec, self._loop, self._max_side = spec, loop, max_side
            if spec is not None:
                self._open()

    def _open(self) -> None:
        """Open the source in this thread; a camera or stream is opened by its own reader
        thread (``background_open``), because opening a dead stream can block for long."""
        assert self._spec is not None
        self._retry_at = None
        self._started = False
        try:
            source = self._open_fn(self._spec, on_status=self.source_status.emit, realtime=True, loop=self._loop,
                                   background_open=True, **self._capture_kwargs())
        except FaceAppError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # an OpenCV surprise must end this source, not the app
            log.exception("opening %s failed", self._spec)
            self._failed(f"{source_label(self._spec)}: {exc}")
            return
        self._source = source
        self._last_frame = None
        if self._follower is not None:
            self._follower.reset()  # another source: its faces start new tracks
        if self._stop.is_set():  # stop() came while it opened, too early to close it
            source.close()

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
        source, self._source = self._source, None
        if source is not None:
            source.close()
        self._retry_at = None

    def _take_frame(self, source: FrameSource) -> None:
        try:
            frame = source.latest(_POLL_S)
        except FaceAppError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:
            log.exception("source %s failed", self._spec)
            self._failed(f"{source_label(self._spec or '')}: {exc}")
            return
        if frame is not None:
            self._process(frame)
        elif source.ended:
            self._source_over(source)

    def _failed(self, message: str) -> None:
        """The source failed, to open or for good: say so, and try a live one again later."""
        self._close_source()
        if self._stop.is_set() or self._spec is None:
            return
        retry = is_live(self._spec)
        if retry:
            self._retry_at = time.monotonic() + self.retry_s
        self.source_failed.emit(message, retry)

    def _source_over(self, source: FrameSource) -> None:
        self._close_source()
        if self._stop.is_set() or self._spec is None:
            return
        self._end_tracks()
        label = source_label(self._spec)
        skipped = list(source.skipped)  # an image folder's unreadable files
        total = len(getattr(source, "paths", []))
        if skipped and len(skipped) >= total:  # not one frame: that is a failure, not an end
            self.source_failed.emit(f"{label}: none of its {total} image{'s' if total != 1 else ''} could be "
                                    f"read ({skipped[0][1]})", False)
            return
        plural = "s" if len(skipped) != 1 else ""
        self.source_ended.emit(f"{label} ({len(skipped)} unreadable image{plural} skipped)" if skipped else label)

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
            gallery, threshold = self._gallery, self._threshold
            if threshold is None:
                gallery = None  # nothing to match under yet: faces are found, not named
            try:
                result = self._follow(pipeline, frame, gallery, threshold)
                self.processing_error = None
            except Exception as exc:  # e.g. a gallery of another model's dimension
                if self.processing_error is None:
                    log.exception("processing a frame failed")
                    self.source_status.emit(f"cannot process frames: {exc}")
                self.processing_error = str(exc)
                result = FrameResult(frame, ())
        self._last_frame = result.frame
        self._publish(result)

    def _publish(self, result: FrameResult) -> None:
        """Hand ``result`` to the GUI thread (take_latest), keeping the ended tracks of one it never took."""
        with self._lock:
            unread = self._latest
            if getattr(unread, "ended", ()) and hasattr(result, "ended"):  # tracks that ended in a frame never shown
                result = replace(result, ended=unread.ended + result.ended)
            self._latest = result
            notify = not self._notified
            self._notified = True
        if notify:
            self.result_ready.emit()

    def _end_tracks(self) -> None:
        """A video or folder reached its end, or the source was stopped: its open tracks end now,
        handed on as the ended tracks of one more result (its last frame again, without faces),
        so that the panel logs their visits and a session's departures, as 'identify VIDEO' does
        at its end. (A source replaced by another is reset instead: by then the panels have
        started on the new one.)"""
        from ..follow import TrackedFrame

        follower, frame, self._last_frame = self._follower, self._last_frame, None
        if follower is None or frame is None:
            return
        ended = tuple(follower.finish())
        if ended:
            self._publish(TrackedFrame(frame, (), ended=ended))

    def _follow(self, pipeline: Pipeline, frame: Frame, gallery: Gallery | None, threshold: float | None) -> FrameResult:
        """Detect, track and decide one frame by the open-set rule under ``threshold`` (None:
        nobody is named, as there is no gallery either)."""
        from ..app.recognition import identify_rule
        from ..decide import OpenSetRule
        from ..follow import FaceFollower, FollowSettings

        follower = self._follower
        if follower is None or follower.pipeline is not pipeline:
            follower = self._follower = FaceFollower(pipeline, OpenSetRule(cap=0.0), FollowSettings())
        follower.settings = replace(follower.settings, encode_all=self._encode_every_frame)
        if threshold is not None:
            follower.rule = identify_rule(self._config, threshold)
        return follower.process(frame, gallery, keep_crops=True)

    def _fit(self, frame: Frame) -> Frame:
        side = self._max_side
        h, w = frame.image.shape[:2]
        if side is None or max(h, w) <= side:
            return frame
        scale = side / max(h, w)
        image = cv2.resize(frame.image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return replace(frame, image=image)
