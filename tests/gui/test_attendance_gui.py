"""Attendance in the real window: "Start session…" in Identify mode marks each person once from
the track arrivals of a playing video (faceapp.app.attendance, as ``identify --session``), the
Attendance tab lists who came with first/last seen and status, and exports it as CSV."""

from __future__ import annotations

import csv

from PySide6.QtWidgets import QInputDialog

from faceapp.app.attendance import attendance

from .conftest import WAIT_MS, enroll_from_video


def test_a_session_marks_each_person_once_lists_them_and_exports_the_list(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, tmp_path, monkeypatch
) -> None:
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[0]], "Alice")
    window = make_window(None)
    panel, identify = window.attendance_panel, window.identify_panel
    assert window.mode == "identify" and identify.session_button.text() == "Start session\u2026"
    assert panel.rows() == [] and "No session yet" in panel.heading.text() and not panel.export_button.isEnabled()

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("\t", True)))
    assert not identify.toggle_session() and window.state.session is None  # a blank name starts nothing
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Lecture  5", True)))
    assert identify.toggle_session()
    assert identify.session_button.text() == "End session \u201cLecture 5\u201d"
    assert "\u201cLecture 5\u201d (running): 0 people" in panel.heading.text()

    window.set_source(str(videos[people[0]]))
    qtbot.waitUntil(lambda: len(panel.rows()) == 1, timeout=WAIT_MS)
    frame = window.last_result.frame.index
    qtbot.waitUntil(lambda: window.last_result.frame.index >= frame + 5, timeout=WAIT_MS)
    (row,) = panel.rows()  # still one: each person is marked once
    assert row[0] == "Alice" and row[3] in ("present", "to confirm") and row[1] <= row[2]
    marks = [e for e in window.state.events(500) if e["kind"] == "attend"]
    assert [m["source"] for m in marks] == ["Lecture 5"] * len(marks) and marks[-1]["decision"] != "left"
    assert [r.name for r in attendance(window.state.db, "lecture 5")] == ["Alice"]  # the CLI's use-case sees it

    assert identify.toggle_session() and window.state.session is None  # End session: the list stays
    assert "(ended): 1 person marked" in panel.heading.text() and len(panel.rows()) == 1
    out = tmp_path / "lecture-5.csv"
    assert panel.export_csv(out) == 1
    with open(out, encoding="utf-8-sig", newline="") as f:
        (exported,) = list(csv.DictReader(f))
    assert exported["name"] == "Alice" and exported["status"] == row[3] and exported["first seen"] <= exported["last seen"]
    assert panel.export_csv(out) is None and "a file is there already" in window.messages.text("action")


def test_when_a_video_ends_its_open_tracks_log_their_visit_and_the_session_marks_who_left(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, monkeypatch
) -> None:
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[0]], "Alice")
    window = make_window(None)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Lecture 6", True)))
    assert window.identify_panel.toggle_session()
    window.set_source(str(videos[people[0]]))  # Alice is in view until its last frame
    qtbot.waitUntil(lambda: "ended" in window.messages.text("source"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(e["decision"].startswith("left after") for e in window.state.events(500)),
                    timeout=WAIT_MS)
    events = window.state.events(500)
    visits = [e for e in events if e["kind"] == "identify" and e["decision"].startswith("left after")]
    assert [e["name"] for e in visits] == ["Alice"]
    marks = [e["decision"] for e in events if e["kind"] == "attend"][::-1]
    assert marks[0] in ("present", "to confirm") and marks[-1] == "left"


def test_stopping_a_source_ends_its_tracks_too(make_window, gui_pipeline, gui_settings, videos, people, qtbot,
                                               monkeypatch) -> None:
    from faceapp.gui.prefs import GuiPrefs

    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[0]], "Alice")
    window = make_window(None, prefs=GuiPrefs(loop=True))  # a loop never ends by itself
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Lecture 7", True)))
    assert window.identify_panel.toggle_session()
    window.set_source(str(videos[people[0]]))
    qtbot.waitUntil(lambda: len(window.attendance_panel.rows()) == 1, timeout=WAIT_MS)
    window.stop_source()
    qtbot.waitUntil(lambda: any(e["decision"].startswith("left after") for e in window.state.events(500)),
                    timeout=WAIT_MS)
    marks = [e["decision"] for e in window.state.events(500) if e["kind"] == "attend"]
    assert marks[0] == "left"  # newest first
    assert window.video.image() is None and window.video.placeholder.startswith("Stopped")  # logged, not shown
