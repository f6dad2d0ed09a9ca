""""Who is this?" in the real window: remembered unknown faces (real in-repo faces through the
shipped detector and encoder) listed with their crops, named and forgotten through
faceapp.app.unknowns."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox

from faceapp.app.enrollment import encode_photo
from faceapp.app.unknowns import remember_face


def test_who_is_this_lists_unknown_faces_with_crops_and_names_or_forgets_them(
    make_window, gui_pipeline, repo_faces, monkeypatch
) -> None:
    window = make_window(None)
    panel = window.unknowns_panel
    assert panel.group_ids() == [] and not panel.name_button.isEnabled()
    state = window.state
    faces = [encode_photo(gui_pipeline, photo) for photo in repo_faces.hungry[:2]]
    e = {remember_face(state.db, gui_pipeline.model_id, f.encoding, state.threshold, f.crop, "door") for f in faces}
    assert len(e) == 1, "two photos of E: one group"
    e = e.pop()
    other = remember_face(state.db, gui_pipeline.model_id, faces[0].encoding, 0.0, faces[0].crop, "desk")
    panel.refresh()
    assert panel.group_ids() == [e, other]
    assert panel.list.item(0).text().startswith(f"Unknown {e}: seen 2 times\nfirst ")
    assert panel.list.item(0).text().endswith("at door")
    panel.select(e)
    assert panel.crops.count() == 2 and not panel.crops.item(0).icon().isNull(), "its two crops, shown"

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("Person E", True)))
    assert panel.name_selected()
    assert panel.group_ids() == [other]
    assert window.state.db.person("Person E").templates == 2
    assert "Person E" in window.people_panel.names()
    assert len(window.state.gallery) == 2, "the gallery reloaded"

    panel.select(other)
    answer = QMessageBox.StandardButton.No
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or answer))
    assert not panel.forget_selected()
    assert panel.group_ids() == [other] and asked[0][2].startswith(f"Forget Unknown {other}")
    answer = QMessageBox.StandardButton.Yes
    assert panel.forget_selected()
    assert panel.group_ids() == [] and panel.crops.count() == 0 and not panel.forget_button.isEnabled()


def test_naming_a_group_after_someone_it_does_not_look_like_asks_first(make_window, gui_pipeline, repo_faces,
                                                                        monkeypatch) -> None:
    import numpy as np

    window = make_window(None)
    panel, state = window.unknowns_panel, window.state
    face = encode_photo(gui_pipeline, repo_faces.hungry[0])
    elsewhere = -np.asarray(face.encoding, np.float32)  # as far from E's face as a face can be
    state.db.store.enroll("Alice", elsewhere[None], gui_pipeline.model_id)
    group = remember_face(state.db, gui_pipeline.model_id, face.encoding, state.threshold, face.crop, "door")
    panel.refresh()
    panel.select(group)
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("Alice", True)))
    asked, answer = [], QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a[2]) or answer))
    assert not panel.name_selected()
    assert asked[0].startswith(f"Unknown {group}'s faces lie at 2.000 from Alice's") and "anyway?" in asked[0]
    assert panel.group_ids() == [group] and state.db.person("Alice").templates == 1  # nothing changed
    answer = QMessageBox.StandardButton.Yes
    assert panel.name_selected()
    assert panel.group_ids() == [] and state.db.person("Alice").templates == 2
