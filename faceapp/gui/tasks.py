"""Work off the GUI thread: one abstraction for the live video loop and for one-off jobs.

A :class:`Task` runs a function, or a generator function, in its own thread and reports through
Qt signals, which reach slots in the GUI thread as queued calls: ``started``, ``yielded`` (each
value a generator yields, None excepted), ``returned`` (the result), ``errored`` (the exception)
and ``finished`` (always last). It is modelled on superqt's ``create_worker``/``GeneratorWorker``,
without the dependency: ``abort()`` is cooperative, so a generator is closed at its next
``yield`` (which runs its ``finally``) while a plain function runs to its end. A generator may
yield None just to offer such a point, as the video loop does once per turn.

A :class:`TaskGroup` keeps every task its owner (the main window) starts, and its ``shutdown``
aborts them and waits for their threads, so closing a window joins its threads rather than
orphaning them. The threads are Python daemon threads rather than QThreads: a task still stuck
in a driver call when the process exits is abandoned, where a QThread object destroyed while
running would abort the process. ``isRunning``/``isFinished``/``wait(msecs)`` keep QThread's
names and units, so code that waited on a QThread waits on a Task unchanged.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..errors import FaceAppError

log = logging.getLogger(__name__)


class Task(QObject):
    """``fn(*args)`` in a daemon thread of its own; create it, connect its signals, ``start()``.

    Connect before ``start``: a signal emitted while nothing is connected reaches nobody.
    """

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception; FaceAppErrors are expected, others are also logged
    finished = Signal()  # after returned or errored, or after an abort ended a generator

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "faceapp-task") -> None:
        super().__init__()  # no Qt parent: nothing may delete it while its thread still emits
        self.name = name
        self._fn = fn
        self._args = args
        self._abort = threading.Event()
        self._detached = False
        self._started = False
        self.aborted = False  # an abort ended it before it returned
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __repr__(self) -> str:
        state = "running" if self.isRunning() else "finished" if self.isFinished() else "not started"
        return f"<Task {self.name} {state}>"

    def start(self) -> Task:
        if self._started:
            raise RuntimeError(f"task {self.name} was started already")
        self._started = True
        self._thread.start()
        return self

    def abort(self) -> None:
        """Ask the task to end: a generator is closed at its next ``yield``. Never blocks."""
        self._abort.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def isRunning(self) -> bool:  # noqa: N802 - QThread's name
        return self._thread.is_alive()

    def isFinished(self) -> bool:  # noqa: N802 - QThread's name
        return self._started and not self._thread.is_alive()

    def wait(self, msecs: int | None = None) -> bool:
        """Wait up to ``msecs`` milliseconds (None or negative: as long as it takes) for the
        thread to end; True when it has ended or was never started, as QThread.wait."""
        if not self._started:
            return True
        self._thread.join(None if msecs is None or msecs < 0 else msecs / 1000)
        return not self._thread.is_alive()

    def detach(self) -> None:
        """Deliver no more signals: whoever listened is going away."""
        self._detached = True

    def _emit(self, signal: Any, *args: Any) -> None:
        if self._detached:
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # the Qt side was torn down (the application is exiting)
            self._detached = True

    def _run(self) -> None:
        self._emit(self.started)
        try:
            result = self._fn(*self._args)
            if inspect.isgenerator(result):
                result = self._drive(result)
            if not self.aborted:
                self._emit(self.returned, result)
        except Exception as exc:
            if not isinstance(exc, FaceAppError):
                log.exception("task %s failed", self.name)
            self._emit(self.errored, exc)
        finally:
            self._emit(self.finished)

    def _drive(self, generator: Generator[Any, None, Any]) -> Any:
        while True:
            if self._abort.is_set():
                self.aborted = True
                generator.close()  # GeneratorExit at its yield: its finally blocks run here
                return None
            try:
                value = next(generator)
            except StopIteration as stop:
                return stop.value
            if value is not None:
                self._emit(self.yielded, value)


class TaskGroup:
    """The tasks one owner started, so that its ``shutdown`` can abort them and wait for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: list[Task] = []

    def create(self, fn: Callable[..., Any], *args: Any, name: str = "faceapp-task") -> Task:
        """A registered, not yet started Task for ``fn(*args)``."""
        task = Task(fn, *args, name=name)
        with self._lock:
            self._tasks = [t for t in self._tasks if not t.isFinished()]
            self._tasks.append(task)
        return task

    def running(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks if t.isRunning()]

    def shutdown(self, msecs: int, warn_after_ms: int | None = None) -> list[Task]:
        """Abort every task and wait up to ``msecs`` in all for their threads (logging a warning
        after ``warn_after_ms``). Returns the tasks still running: they are detached, so they
        deliver nothing more, and left to end on their own (as daemons, they never hold up the
        process's exit). Idempotent."""
        with self._lock:
            tasks = list(self._tasks)
        for task in tasks:
            task.abort()
        start = time.monotonic()
        if warn_after_ms is not None and warn_after_ms < msecs:
            busy = _wait_all(tasks, start + warn_after_ms / 1000)
            if busy:
                log.warning("still busy: %s; waiting for %s", ", ".join(t.name for t in busy),
                            "it" if len(busy) == 1 else "them")
        busy = _wait_all(tasks, start + msecs / 1000)
        for task in busy:
            log.error("%s did not stop; leaving it to finish on its own", task.name)
            task.detach()
        with self._lock:
            self._tasks = [t for t in self._tasks if not t.isFinished()]
        return busy


def _wait_all(tasks: list[Task], deadline: float) -> list[Task]:
    """Wait for each task until ``deadline`` (monotonic); the ones still running after it."""
    for task in tasks:
        task.wait(max(0, round((deadline - time.monotonic()) * 1000)))
    return [t for t in tasks if t.isRunning()]
