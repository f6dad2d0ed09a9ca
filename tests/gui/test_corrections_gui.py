"""Corrections in the real window: the People tab's "Merge into…" and the Templates dialog's
"Move to…", both through faceapp.app.corrections, each logged, the lists refreshed."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QInputDialog, QMessageBox

from faceapp.camera import open_source
from faceapp.storage import open_store


def _enroll_two(gui_pipeline, db_path, video) -> None:
    """Ann with 2 templates and Ann B with 1, all from one video's faces (one person, two entries)."""
    with open_source(video) as source:
        faces = [r.faces[0] for r in (gui_pipeline.process(f) for f in source) if len(r.faces) == 1][:3]
    with open_store(db_path) as store:
        store.enroll("Ann", np.stack([f.encoding for f in faces[:2]]), gui_pipeline.model_id, sources=["a1.jpg", "a2.jpg"])
        store.enroll("Ann B", faces[2].encoding[None], gui_pipeline.model_id, sources=["b1.jpg"])


def test_merge_says_the_direction_first_then_moves_everything_and_logs_it(
    make_window, gui_pipeline, gui_settings, videos, people, monkeypatch
) -> None:
    _enroll_two(gui_pipeline, gui_settings.db_path, videos[people[0]])
    window = make_window(None)
    panel = window.people_panel
    assert sorted(panel.names()) == ["Ann", "Ann B"]
    offered = []
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda _p, _t, _l, items, *a, **k: offered.append(items) or ("Ann", True)))
    asked = []
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or answer))
    panel.select("Ann B")
    assert panel.merge_button.isEnabled()
    assert not panel.merge_selected()  # said No: nothing changed
    assert offered[0] == ["Ann"]  # never itself
    assert asked[0][2].startswith("Merge Ann B into Ann: Ann B's 1 template and events move to Ann, and Ann B is removed")
    assert sorted(panel.names()) == ["Ann", "Ann B"]
    assert not [e for e in window.state.events(50) if e["kind"] == "correct"]

    answer = QMessageBox.StandardButton.Yes
    assert panel.merge_selected()
    assert panel.names() == ["Ann"] and panel.selected_name() == "Ann"
    assert window.state.db.person("Ann").templates == 3
    assert len(window.state.gallery) == 3 and not panel.merge_button.isEnabled()  # nobody left to merge into
    corrections = [e for e in window.state.events(50) if e["kind"] == "correct"]
    assert len(corrections) == 1
    assert window.events_panel.rows()[0][1] == "correct"  # the events list refreshed


def test_move_to_gives_a_template_to_another_person_and_logs_it(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, monkeypatch
) -> None:
    _enroll_two(gui_pipeline, gui_settings.db_path, videos[people[0]])
    window = make_window(None)
    panel = window.people_panel
    panel.select("Ann")
    dialog = panel.show_templates()
    qtbot.addWidget(dialog)
    ids = dialog.template_ids()
    assert len(ids) == 2 and not dialog.move_button.isEnabled()  # nothing picked yet
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("Ann B", True)))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes))
    dialog.list.setCurrentRow(1)
    assert dialog.move_button.isEnabled()
    assert dialog.move_selected()
    assert asked[0][2].startswith(f"Move template {ids[1]} (a2.jpg) from Ann to Ann B")
    assert dialog.template_ids() == [ids[0]]
    assert ids[1] in [t.id for t in window.state.db.templates("Ann B")]
    texts = {panel.list.item(i).data(0x0100): panel.list.item(i).text() for i in range(panel.list.count())}
    assert texts["Ann"].startswith("Ann\n1 template") and texts["Ann B"].startswith("Ann B\n2 templates")
    assert [e["kind"] for e in window.state.events(50)].count("correct") == 1


def test_not_this_person_corrects_the_selected_sighting_after_asking(
    make_window, gui_pipeline, gui_settings, videos, people, monkeypatch
) -> None:
    _enroll_two(gui_pipeline, gui_settings.db_path, videos[people[0]])
    with open_store(gui_settings.db_path) as store:
        sighting = store.log_event("identify", person_id=store.person("Ann").id, decision="recognised", distance=0.4)
    window = make_window(None)
    panel = window.events_panel
    assert not panel.not_this_button.isEnabled()  # nothing selected
    kinds = [row[1] for row in panel.rows()]
    panel.select_row(kinds.index("enroll"))
    assert not panel.not_this_button.isEnabled(), "only a sighting that named someone"
    panel.select_row(kinds.index("identify"))
    assert panel.not_this_button.isEnabled() and panel.selected_event()["id"] == sighting
    asked = []
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or answer))
    assert not panel.correct_selected()
    assert "was not Ann?" in asked[0][2]
    assert [e for e in window.state.events(50) if e["id"] == sighting][0]["name"] == "Ann", "said No: unchanged"

    answer = QMessageBox.StandardButton.Yes
    assert panel.correct_selected()
    corrected = [e for e in window.state.events(50) if e["id"] == sighting][0]
    assert (corrected["name"], corrected["person_id"], corrected["decision"]) == (None, None, "corrected: not Ann")
    assert panel.rows()[0][1:4] == ("correct", "Ann", f"event {sighting} was not Ann")  # the list refreshed
    assert window.state.db.person("Ann").templates == 2
