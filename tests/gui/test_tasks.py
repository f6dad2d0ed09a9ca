"""Tasks: a function or generator in its own thread, reporting through signals delivered in the
GUI thread; cooperative abort; a group that joins its tasks at shutdown."""

from __future__ import annotations

import threading

import pytest

from faceapp.errors import FaceAppError
from faceapp.gui.tasks import Task, TaskGroup

from .conftest import WAIT_MS


def record(task: Task) -> list[tuple]:
    """Every signal of ``task`` as (name, value, delivered in the GUI thread), in order."""
    events: list[tuple] = []
    main = threading.main_thread()
    for name in ("started", "yielded", "returned", "errored", "finished"):
        def slot(*args, name=name):
            events.append((name, args[0] if args else None, threading.current_thread() is main))

        getattr(task, name).connect(slot)
    return events


def finished(events: list[tuple]) -> bool:
    return bool(events) and events[-1][0] == "finished"


def test_a_function_returns_its_value_in_the_gui_thread(qtbot) -> None:
    workers: list[threading.Thread] = []

    def work(a: int, b: int) -> int:
        workers.append(threading.current_thread())
        return a + b

    task = Task(work, 2, 3, name="adder")
    events = record(task)
    assert task.wait(0) and not task.isFinished()  # not started: nothing to wait for
    task.start()
    qtbot.waitUntil(lambda: finished(events), timeout=WAIT_MS)
    assert [e[:2] for e in events] == [("started", None), ("returned", 5), ("finished", None)]
    assert all(in_gui for *_, in_gui in events)
    assert workers and workers[0] is not threading.main_thread() and workers[0].name == "adder"
    assert task.isFinished() and not task.isRunning()
    with pytest.raises(RuntimeError, match="started already"):
        task.start()


def test_a_jobs_error_arrives_as_an_error(qtbot) -> None:
    def fails() -> None:
        raise FaceAppError("no face in photo.jpg")

    task = Task(fails)
    events = record(task)
    task.start()
    qtbot.waitUntil(lambda: finished(events), timeout=WAIT_MS)
    names = [e[0] for e in events]
    assert names == ["started", "errored", "finished"]  # never returned
    error = events[1][1]
    assert isinstance(error, FaceAppError) and str(error) == "no face in photo.jpg"


def test_an_unexpected_exception_also_arrives_as_an_error(qtbot) -> None:
    task = Task(lambda: 1 / 0)
    events = record(task)
    task.start()
    qtbot.waitUntil(lambda: finished(events), timeout=WAIT_MS)
    assert [e[0] for e in events] == ["started", "errored", "finished"]
    assert isinstance(events[1][1], ZeroDivisionError)


def test_a_generator_yields_then_returns(qtbot) -> None:
    def count():
        yield 1
        yield None  # an abort point only: not emitted
        yield 2
        return "done"

    task = Task(count)
    events = record(task)
    task.start()
    qtbot.waitUntil(lambda: finished(events), timeout=WAIT_MS)
    assert [e[:2] for e in events] == [("started", None), ("yielded", 1), ("yielded", 2), ("returned", "done"),
                                       ("finished", None)]


def test_abort_closes_a_generator_at_its_next_yield(qtbot) -> None:
    cleaned = threading.Event()
    turns: list[int] = []

    def forever():
        try:
            while True:
                turns.append(1)
                yield
        finally:
            cleaned.set()

    task = Task(forever)
    events = record(task)
    task.start()
    qtbot.waitUntil(lambda: len(turns) > 3, timeout=WAIT_MS)
    task.abort()
    assert task.abort_requested
    assert task.wait(WAIT_MS)
    assert cleaned.is_set() and task.aborted
    qtbot.waitUntil(lambda: finished(events), timeout=WAIT_MS)
    assert "returned" not in [e[0] for e in events] and "errored" not in [e[0] for e in events]


def test_a_group_joins_its_tasks_at_shutdown(qtbot) -> None:
    group = TaskGroup()
    cleaned: list[str] = []

    def loop(name: str):
        try:
            while True:
                yield
        finally:
            cleaned.append(name)

    tasks = [group.create(loop, name, name=name) for name in ("video", "probe")]
    quick = group.create(lambda: "found", name="quick")
    for task in [*tasks, quick]:
        task.start()
    qtbot.waitUntil(lambda: len(group.running()) == 2, timeout=WAIT_MS)  # the quick one is over
    assert group.shutdown(WAIT_MS) == []
    assert all(t.isFinished() for t in [*tasks, quick])
    assert sorted(cleaned) == ["probe", "video"]
    assert group.running() == []
    assert group.shutdown(WAIT_MS) == []  # idempotent


def test_a_task_that_ignores_abort_is_reported_and_then_delivers_nothing(qtbot) -> None:
    """A plain function cannot be interrupted: shutdown gives up on it after its timeout, says
    which one, and detaches it so its late result reaches nobody."""
    release = threading.Event()
    group = TaskGroup()
    task = group.create(lambda: release.wait(WAIT_MS / 1000) and "late", name="stuck")
    events = record(task)
    task.start()
    qtbot.waitUntil(lambda: task.isRunning(), timeout=WAIT_MS)
    assert group.shutdown(200) == [task]
    assert task.isRunning()
    release.set()
    assert task.wait(WAIT_MS)
    qtbot.wait(100)  # a result queued for the GUI thread would be delivered now
    assert [e[0] for e in events] == ["started"]
