"""The real main window, driven over videos and photo files made from LFW (there is no webcam).

Genuine matches compare frames of the same video the person was enrolled from, so the tests
check the application's behaviour, not the model's accuracy; thresholds, distances and the model
id always come from the loaded model card.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox, QPushButton, QWizard

from faceapp.camera import open_source
from faceapp.gui.common import fmt_distance
from faceapp.gui.prefs import CUSTOM_LEVEL, GuiPrefs, far_label, load_prefs
from faceapp.storage import GalleryStore, open_store

from .conftest import WAIT_MS, enroll_from_video


def events(window, kind: str | None = None) -> list[dict]:
    return [e for e in window.state.events(500) if kind is None or e["kind"] == kind]


@contextmanager
def stored(window) -> Iterator[GalleryStore]:
    """The window's database, opened on its own to look at what the window wrote into it."""
    with open_store(window.state.config.db_path, create=False) as store:
        yield store


def test_enroll_through_the_wizard_from_video_then_identify(make_window, videos, people, qtbot) -> None:
    alice = people[0]
    window = make_window(videos[alice], prefs=GuiPrefs(loop=True, enroll_shots=3))
    assert window.model_status.text().endswith(window.state.info.model_id)
    assert "CPU" in window.device_status.text() and "yunet" in window.detector_status.text().lower()
    assert window.device_status.text().endswith("ONNX Runtime")  # the shipped card's fast CPU path

    wizard = window.start_enroll()
    assert window.mode == "enroll"
    wizard.name_page.edit.setText("Alice Example")
    wizard.next()
    assert wizard.currentPage() is wizard.capture_page
    qtbot.waitUntil(lambda: wizard.capture.done, timeout=WAIT_MS)
    assert "3 shots taken" in wizard.capture_page.hint.text()
    wizard.next()
    assert wizard.currentPage() is wizard.review_page and wizard.review_page.list.count() == 3
    assert wizard.review_page.warning.text() == ""  # nobody enrolled yet to be confused with
    wizard.review_page.set_kept(0, False)  # drop one shot
    assert "2 of 3 shots" in wizard.review_page.summary.text()
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)

    person = window.state.db.person("Alice Example")
    assert person.templates == 2 and person.has_thumbnail
    with stored(window) as store:
        assert store.stale_crops("a-later-model") != []  # crops kept (the default) for re-encoding
    assert window.people_panel.names() == ["Alice Example"]
    assert any(e["kind"] == "enroll" and e["name"] == "Alice Example" for e in events(window))
    assert window.events_panel.rows()[0][1] == "enroll"

    # Identify, the mode before: the enrolled face is labelled with the name and distance, and logged
    # once when it arrives (not again while it stays in view), without the user having to leave
    # Enroll mode by hand.
    assert window.mode == "identify" and window.mode_actions["identify"].isChecked()
    qtbot.waitUntil(lambda: any("Alice Example" in label.text for label in window.last_labels), timeout=WAIT_MS)
    label = next(label for label in window.last_labels if "Alice Example" in label.text)
    assert label.status == "ok" and label.text.startswith("\u2714")
    frame = window.last_result.frame.index
    qtbot.waitUntil(lambda: window.last_result.frame.index >= frame + 3, timeout=WAIT_MS)
    seen = [e for e in events(window, "identify") if e["decision"] != "unknown"]  # unknown faces arrive too
    assert len(seen) == 1 and seen[0]["name"] == "Alice Example" and seen[0]["decision"] == "recognised"
    assert seen[0]["distance"] <= window.state.threshold
    assert window.identify_panel.seen.count() == 1
    row = window.identify_panel.seen.item(0).text()  # the icon marks it; no second tick in the text
    assert row.startswith("Alice Example at ") and "(distance " in row


def test_enroll_from_photo_files_shows_errors_per_file_and_warns_on_a_known_face(
    make_window, good_photos, people, tmp_path: Path, qtbot
) -> None:
    bob = people[1]
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not an image")
    no_face = tmp_path / "wall.png"
    cv2.imwrite(str(no_face), (cv2.randu(cv2.UMat(200, 200, cv2.CV_8UC3), 0, 0).get() + 120))
    window = make_window(None, prefs=GuiPrefs(keep_thumbnails=False, keep_face_crops=False))  # no source, no camera
    assert "No camera found" in window.messages.text("source")
    assert "Open video file…" in window.messages.buttons("source")

    wizard = window.start_enroll(from_camera=False)
    wizard.name_page.edit.setText("Bob")
    wizard.next()
    photos = good_photos[bob][:2]
    wizard.add_photo_files([*photos, not_an_image, no_face])
    assert not wizard.capture_page.isComplete()  # still encoding
    qtbot.waitUntil(lambda: not wizard.pending, timeout=WAIT_MS)
    rows = [wizard.capture_page.files.item(i).text() for i in range(wizard.capture_page.files.count())]
    assert rows[0].startswith("\u2714") and rows[1].startswith("\u2714")
    assert rows[2].startswith("\u2716") and "notes.jpg" in rows[2]
    assert rows[3].startswith("\u2716") and "no face" in rows[3]
    assert set(wizard.file_errors) == {str(not_an_image), str(no_face)}
    wizard.add_photo_files(photos[:1])  # the same file again: not a second template of the same face
    assert wizard.capture_page.files.count() == 4 and not wizard.pending
    wizard.next()
    assert wizard.review_page.list.count() == 2
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)
    bob_info = window.state.db.person("Bob")
    assert bob_info.templates == 2 and not bob_info.has_thumbnail  # thumbnails switched off
    with stored(window) as store:
        assert store.stale_without_crop("a-later-model") == 2  # and so were the kept crops

    # The same face under another name: the review page warns that it matches Bob.
    wizard = window.start_enroll(from_camera=False)
    wizard.name_page.edit.setText("Robert")
    wizard.next()
    wizard.add_photo_files(photos[:1])
    qtbot.waitUntil(lambda: not wizard.pending, timeout=WAIT_MS)
    wizard.next()
    assert "Bob" in wizard.review_page.warning.text() and "already matches" in wizard.review_page.warning.text()
    wizard.reject()
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)
    assert not window.state.db.has_person("Robert")

    # Adding photos to an existing person goes through the same wizard, name filled in.
    window.people_panel.select("Bob")
    window.people_panel.add_button.click()
    assert window.wizard is not None and window.wizard.name_page.edit.text() == "Bob"
    assert "already enrolled" in window.wizard.name_page.note.text()
    window.wizard.reject()


def test_verify_accepts_the_genuine_face_rejects_an_impostor_and_locks_out(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot
) -> None:
    alice, impostor = people[0], people[2]
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[alice], "Alice")
    window = make_window(videos[alice], prefs=GuiPrefs(loop=True, max_rejections=2, lockout_s=30))
    panel = window.verify_panel
    window.set_mode("verify")
    assert panel.set_claim("Alice")
    threshold = window.state.threshold
    assert threshold == pytest.approx(window.state.info.thresholds[window.state.info.default_level])

    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_outcome is not None, timeout=WAIT_MS)
    outcome = panel.last_outcome
    assert outcome.accepted and outcome.distance <= threshold
    assert panel.status.text().startswith("\u2714 Accepted: Alice")
    assert f"\u2264 threshold {fmt_distance(threshold)}" in panel.progress.text()
    assert any(label.text.startswith("\u2714 Alice") for label in window.last_labels)

    window.set_source(str(videos[impostor]))
    qtbot.waitUntil(lambda: window.source_status.text() == f"Source: video {videos[impostor].name}", timeout=WAIT_MS)
    for attempt in (1, 2):
        panel.last_outcome = None
        assert panel.start()
        qtbot.waitUntil(lambda: panel.last_outcome is not None, timeout=WAIT_MS)
        assert not panel.last_outcome.accepted and panel.last_outcome.distance > threshold
        assert panel.status.text().startswith("\u2716 Rejected: not Alice")
    assert panel.last_outcome.lockout_s == 30
    assert panel.locked and not panel.verify_button.isEnabled()
    assert panel.lock_label.text().startswith("\u23f3") and not panel.lock_label.isHidden()
    assert not panel.start()  # refused while locked out, and logged
    window.apply_prefs(replace(window.prefs, lockout_s=31))  # a settings change does not lift it
    assert panel.locked and panel.decider.lockout_s == 31 and not panel.verify_button.isEnabled()

    log = events(window, "verify")
    decisions = [e["decision"] for e in reversed(log)]
    assert decisions[0] == "accepted"
    assert decisions[1] == "rejected" and decisions[2].startswith("rejected, locked out for 30 s")
    assert decisions[3] == "refused: locked out"
    assert all(e["name"] == "Alice" for e in log)
    assert log[-1]["distance"] <= threshold < log[-2]["distance"]


def test_renaming_the_claimed_person_keeps_the_claim_on_them(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, monkeypatch
) -> None:
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[0]], "Zed")
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[1]], "Bob")
    window = make_window(None)
    window.set_mode("verify")
    assert window.verify_panel.set_claim("Zed")
    window.people_panel.select("Zed")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Zed Smith", True)))
    assert window.people_panel.rename_selected()
    assert window.verify_panel.claim_box.currentText() == "Zed Smith"  # not Bob, first in the list


def test_verify_needs_a_playing_source_and_ends_when_the_video_does(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot
) -> None:
    alice = people[0]
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[alice], "Alice")
    window = make_window(videos[alice], prefs=GuiPrefs(loop=False))
    panel = window.verify_panel
    window.set_mode("verify")
    qtbot.waitUntil(lambda: window.source_status.text().endswith("(ended)"), timeout=WAIT_MS)
    assert not panel.start()
    assert "No video is playing" in panel.status.text() and not panel.decider.active

    window.set_source(str(videos[alice]))
    assert panel.start()  # while the video opens; it ends before five frames agree or not
    panel.decider.needed = panel.decider.max_frames = 10_000  # so only the end of the video can decide
    qtbot.waitUntil(lambda: not panel.decider.active, timeout=WAIT_MS)
    outcome = panel.last_outcome
    assert outcome is not None and not outcome.accepted and not outcome.consistent  # decided on what was seen
    assert panel.verify_button.isEnabled()
    assert events(window, "verify")[0]["decision"].startswith("rejected")


def test_verify_and_enroll_without_a_database_say_so(make_window, gui_settings, videos, people, tmp_path, qtbot) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not a database" * 100)
    window = make_window(videos[people[0]], settings=replace(gui_settings, db=str(damaged)))
    window.set_mode("verify")
    assert not window.verify_panel.start()
    assert "No database is open" in window.verify_panel.status.text()
    enroll = window.enroll_panel  # refused up front, not at the wizard's Save
    assert not enroll.from_video.isEnabled() and not enroll.from_photos.isEnabled()
    assert "No database is open" in enroll.note.text()
    assert window.open_settings().isVisible()  # where another database can be chosen


def test_people_panel_renames_and_deletes_after_asking(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, monkeypatch
) -> None:
    enroll_from_video(gui_pipeline, gui_settings.db_path, videos[people[0]], "Alice")
    window = make_window(None)
    panel = window.people_panel
    assert panel.names() == ["Alice"]
    assert "template" in panel.list.item(0).text()
    panel.select("Alice")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("!!!", True)))
    assert not panel.rename_selected()
    assert "Cannot rename Alice" in window.messages.text("action") and panel.names() == ["Alice"]
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Alicia  Smith", True)))
    assert panel.rename_selected()
    assert panel.names() == ["Alicia Smith"] and window.verify_panel.claim_box.currentText() == "Alicia Smith"
    assert window.messages.text("action") == ""  # the earlier failure no longer stands

    asked = []
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or answer))
    panel.select("Alicia Smith")
    assert not panel.delete_selected() and panel.names() == ["Alicia Smith"]
    answer = QMessageBox.StandardButton.Yes
    assert panel.delete_selected()
    assert len(asked) == 2 and "all of their face templates" in asked[0][2]
    assert panel.names() == [] and window.state.db.people() == []
    assert len(window.state.gallery) == 0


def test_people_panel_shows_each_template_with_its_face_and_removes_one_after_asking(
    make_window, gui_pipeline, gui_settings, videos, people, qtbot, monkeypatch
) -> None:
    from faceapp.images import encode_lossless

    with open_source(videos[people[0]]) as source:
        faces = [r.faces[0] for r in (gui_pipeline.process(f, keep_crops=True) for f in source) if len(r.faces) == 1][:3]
    with open_store(gui_settings.db_path) as store:
        store.enroll("Alice", np.stack([f.encoding for f in faces]), gui_pipeline.model_id,
                     sources=["alice-1.jpg", "alice-2.jpg", "camera 0"], crops=[encode_lossless(f.crop) for f in faces[:2]] + [None])
        store.enroll("Alice", faces[0].encoding[None], "faceapp-encoder-older", sources=["old.jpg"])
    window = make_window(None)
    panel = window.people_panel
    panel.select("Alice")
    dialog = panel.show_templates()
    qtbot.addWidget(dialog)
    assert dialog.isVisible() and dialog.windowTitle() == "Templates of Alice"
    assert dialog.summary.text().startswith("Alice has 4 templates")
    texts = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert texts[0].startswith("Enrolled ") and "from alice-1.jpg" in texts[0] and texts[0].endswith("\nIn use")
    assert "another model (faceapp-encoder-older)" in texts[3]
    icons = [dialog.list.item(i).icon().pixmap(72).toImage() for i in range(4)]
    assert icons[0].width() == 72 and icons[0] != icons[1]  # each kept face crop is shown
    assert icons[2] == icons[3]  # no crop kept: the same placeholder

    ids = dialog.template_ids()
    answer = QMessageBox.StandardButton.No
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a) or answer))
    assert not dialog.remove_button.isEnabled()
    dialog.list.setCurrentRow(1)
    assert dialog.remove_button.isEnabled()
    assert not dialog.remove_selected() and dialog.template_ids() == ids
    answer = QMessageBox.StandardButton.Yes
    assert dialog.remove_selected()
    assert "alice-2.jpg" in asked[0][2] and "stays enrolled" in asked[0][2]
    assert dialog.template_ids() == [ids[0], *ids[2:]]
    assert [t.id for t in window.state.db.templates("Alice")] == dialog.template_ids()
    assert len(window.state.gallery) == 2  # matching reloaded: the two of this model left
    assert panel.list.item(0).text().startswith("Alice\n3 templates")
    assert window.state.db.thumbnail("Alice") == encode_lossless(faces[0].crop)  # the face left, not the removed one

    assert "made by another model" in window.messages.text("stale")
    dialog.list.setCurrentRow(2)
    assert dialog.remove_selected()  # the other model's template
    assert window.messages.text("stale") == ""  # nothing stale left: the warning goes at once
    for _ in range(2):
        dialog.list.setCurrentRow(0)
        assert dialog.remove_selected()
    assert "last one" in asked[-1][2]
    assert dialog.summary.text().startswith("\u26a0 Alice has no templates left")
    assert panel.list.item(0).text().endswith("0 templates  (\u26a0 nothing to match: add photos)")
    assert window.state.db.thumbnail("Alice") is None  # no face image outlives its templates


def test_failing_sources_show_a_message_and_the_window_lives_on(
    make_window, qsettings, videos, people, repo_faces, tmp_path, qtbot
) -> None:
    window = make_window(tmp_path / "missing.avi")
    qtbot.waitUntil(lambda: "missing.avi" in window.messages.text("source"), timeout=WAIT_MS)
    assert window.messages.kind("source") == "error" and "Open video file…" in window.messages.buttons("source")
    assert window.isVisible()

    window.set_source(str(videos[people[1]]))  # plays once, then ends
    assert load_prefs(qsettings).source == str(videos[people[1]])  # a source chosen in the GUI is remembered
    qtbot.waitUntil(lambda: "ended" in window.messages.text("source"), timeout=WAIT_MS)
    assert window.last_result is not None and window.isVisible()
    assert "Play again" in window.messages.buttons("source")
    assert window.source_status.text().endswith("(ended)")

    window.set_source(str(tmp_path / "missing.avi"))  # after a source that played: its text, not 'Opening'
    qtbot.waitUntil(lambda: window.messages.kind("source") == "error", timeout=WAIT_MS)
    assert window.video.image() is None and "missing.avi" in window.video.placeholder
    window.stop_source()
    assert window.messages.text("source") == ""

    folder = tmp_path / "broken photos"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_bytes(b"not an image")
    window.set_source(str(folder))
    qtbot.waitUntil(lambda: window.messages.kind("source") == "error", timeout=WAIT_MS)
    assert "none of its 2 images could be read" in window.messages.text("source")
    shutil.copy(repo_faces.hungry[0], folder / "c.jpg")
    window.set_source(str(folder))  # one readable image among them: it plays, and says what it skipped
    qtbot.waitUntil(lambda: "ended" in window.messages.text("source"), timeout=WAIT_MS)
    assert "(2 unreadable images skipped) ended" in window.messages.text("source")


def test_a_camera_that_disconnects_shows_a_message_and_recovers(make_window, videos, people, qtbot) -> None:
    """A 'camera' whose frames come from a video: it stops when the video ends, stays away while
    ``present`` is False, and comes back when it is True again."""
    video = str(videos[people[1]])
    present = {"yes": True}

    def capture(spec):
        return cv2.VideoCapture(video) if present["yes"] else cv2.VideoCapture()

    open_fn = functools.partial(open_source, capture_factory=capture, reconnect_timeout_s=0.5, max_reconnects=1)
    window = make_window("0", open_fn=open_fn)
    window.worker.retry_s = 0.5
    statuses: list[str] = []
    window.worker.source_status.connect(statuses.append, Qt.ConnectionType.DirectConnection)  # from any thread
    qtbot.waitUntil(lambda: window.source_status.text() == "Source: camera 0", timeout=WAIT_MS)
    present["yes"] = False  # unplugged: the video ends and cannot be reopened
    qtbot.waitUntil(lambda: "could not be reopened" in window.messages.text("source"), timeout=WAIT_MS)
    assert "Trying again" in window.messages.text("source") and window.messages.kind("source") == "error"
    assert any("reconnecting to camera 0" in s for s in statuses)
    assert "disconnected" in window.source_status.text()
    frame = window.last_result.frame.index if window.last_result else -1
    present["yes"] = True  # plugged back in
    qtbot.waitUntil(lambda: window.source_status.text() == "Source: camera 0", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.last_result is not None and window.last_result.frame.index != frame, timeout=WAIT_MS)
    assert window.messages.kind("source") != "error"


def test_model_and_database_errors_are_shown_not_raised(make_window, gui_settings, videos, people, tmp_path, qtbot) -> None:
    from dataclasses import replace

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not a database" * 100)
    settings = replace(gui_settings, db=str(damaged), model_path=tmp_path / "missing-model.json")
    window = make_window(videos[people[0]], settings=settings, wait_model=False, pipeline_factory=None)
    qtbot.waitUntil(lambda: "Cannot load the face model" in window.messages.text("model"), timeout=WAIT_MS)
    assert "missing-model.json" in window.messages.text("model")
    assert "not a faceapp database" in window.messages.text("database")
    assert "not loaded" in window.model_status.text()
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=WAIT_MS)  # the video still plays
    assert window.last_result.faces == () and window.last_labels == []
    assert not window.people_panel.enroll_button.isEnabled()


def test_settings_dialog_saves_and_applies_the_security_level(make_window, qsettings) -> None:
    window = make_window(None)
    info = window.state.info
    dialog = window.open_settings()
    strictest = min(info.thresholds, key=lambda level: float(level))
    dialog.level.setCurrentIndex(dialog.level.findData(strictest))
    dialog.keep_thumbnails.setChecked(False)
    dialog.accept()
    assert window.state.threshold == pytest.approx(info.thresholds[strictest])
    assert window.worker.threshold == pytest.approx(info.thresholds[strictest])  # used from the next frame on
    saved = load_prefs(qsettings)
    assert saved.security_level == strictest and saved.keep_thumbnails is False

    dialog = window.open_settings()
    assert dialog.level.currentData() == strictest
    dialog.level.setCurrentIndex(dialog.level.findData(CUSTOM_LEVEL))
    assert dialog.threshold.isEnabled()
    dialog.threshold.setValue(0.5)
    dialog.accept()
    assert window.state.threshold == pytest.approx(0.5)
    assert load_prefs(qsettings).custom_threshold == pytest.approx(0.5)


def test_settings_dialog_chooses_how_many_strangers_identify_may_name_and_ok_alone_overrules_nothing(
        make_window, gui_settings, qsettings) -> None:
    from faceapp.app import resolve_config
    from faceapp.app.recognition import identify_rule

    flags = {"db": gui_settings.db, "model_path": gui_settings.model_path, "detector_model": gui_settings.detector_model,
             "device": "cpu", "threshold_override": 0.9}  # as `faceapp gui --threshold 0.9` starts it
    window = make_window(None, settings=resolve_config(flags=flags, environ={}), flags=flags)
    config = window.state.config
    assert len(config.fpir_levels) > 1 and config.default_open_set_level in config.fpir_levels
    dialog = window.open_settings()
    assert [dialog.strangers.itemData(i) for i in range(dialog.strangers.count())] == list(config.fpir_levels)
    assert dialog.strangers.currentData() == config.default_open_set_level
    assert "(default)" in dialog.strangers.currentText()
    assert dialog.level.currentData() == CUSTOM_LEVEL and dialog.threshold.value() == pytest.approx(0.9)  # what runs
    dialog.shots.setValue(3)  # only this changes: the lists opened on the defaults and stay there
    dialog.accept()
    saved = load_prefs(qsettings)
    assert (saved.enroll_shots, saved.security_level, saved.custom_threshold, saved.open_set_level) == (3, "", 0.0, "")
    assert window.state.threshold == pytest.approx(0.9) and window.worker.threshold == pytest.approx(0.9)

    strictest = min(config.fpir_levels, key=float)
    dialog = window.open_settings()
    dialog.strangers.setCurrentIndex(dialog.strangers.findData(strictest))
    dialog.accept()
    assert load_prefs(qsettings).open_set_level == strictest
    assert window.state.config.open_set_level == strictest == window.worker.config.open_set_level
    assert identify_rule(window.worker.config).threshold_for(10) == pytest.approx(0.9)  # --threshold still replaces it
    assert window.model_status.toolTip().endswith("identify: the same threshold (--threshold)")

    dialog = window.open_settings()
    dialog.level.setCurrentIndex(dialog.level.findData(window.state.config.default_level))
    dialog.accept()  # a security level chosen here overrules --threshold, in the worker too
    rule = identify_rule(window.worker.config)
    assert window.worker.config.threshold_override is None and rule.level == strictest
    assert rule.threshold_for(10) < window.state.threshold
    assert f"identify names at most {far_label(strictest)} strangers" in window.model_status.toolTip()


def test_settings_dialog_refuses_inconsistent_values_and_shows_what_is_in_use(make_window, gui_settings) -> None:
    window = make_window(None)
    dialog = window.open_settings()
    dialog.window.setValue(7)
    dialog.needed.setValue(10)
    assert dialog.needed.value() == 7  # never 'needs 10 agreeing of the last 7'
    dialog.window.setValue(4)
    assert dialog.needed.value() == 4
    dialog.threshold.setValue(0.0)
    assert dialog.threshold.value() > 0  # a threshold of 0 would accept nobody
    dialog.interval.setValue(0)
    assert dialog.interval.value() >= 1  # 0 would log every frame
    assert dialog.db_path.text() == ""  # nothing chosen here, so the line below says what runs
    assert f"database {gui_settings.db_path}" in dialog.in_use.text() and "device cpu" in dialog.in_use.text()
    dialog.reject()


def test_low_quality_detector_is_flagged(make_window, gui_pipeline) -> None:
    from faceapp.detect import HaarDetector
    from faceapp.pipeline import Pipeline

    window = make_window(None, pipeline_factory=lambda s: Pipeline(HaarDetector(), gui_pipeline.encoder))
    assert "low quality" in window.detector_status.text() and window.detector_status.text().startswith("\u26a0")


def test_templates_of_an_earlier_model_are_re_encoded_from_their_crops_on_request(
    make_window, gui_settings, gui_pipeline, good_photos, people, qtbot
) -> None:
    from faceapp.images import encode_lossless, load_image

    photos = good_photos[people[0]][:2]
    faces = [gui_pipeline.encode_one(load_image(p)) for p in photos]
    with open_store(gui_settings.db_path) as store:  # as an earlier release would have enrolled them
        store.enroll("Carol", np.stack([f.encoding for f in faces]), "faceapp-encoder-earlier",
                     crops=[encode_lossless(f.crop) for f in faces])
        store.enroll("Dan", faces[0].encoding[None], "faceapp-encoder-earlier")  # kept no crop
    window = make_window(None)
    text = window.messages.text("stale")
    assert "3 templates were made by another model (faceapp-encoder-earlier)" in text
    assert "2 can be re-encoded (from their kept face crop or enrollment photo)" in text and "other 1 again" in text
    assert window.messages.buttons("stale") == ["Re-encode"]

    window.reencode_templates()
    qtbot.waitUntil(lambda: window.messages.text("reencode") != "", timeout=WAIT_MS)
    assert window.messages.text("reencode") == "Re-encoded 2 templates of 1 person."
    assert window.state.usable_templates(window.state.db.person("Carol").id) == 2
    assert "1 template was made by another model" in window.messages.text("stale")  # Dan's: no crop kept
    assert "add photos of those people again" in window.messages.text("stale")
    assert window.messages.buttons("stale") == []
    assert not [b for b in window.findChildren(QPushButton) if b.text() == "Re-encode" and b.isVisible()]


def test_identify_logs_an_image_folder_like_a_camera_once_per_arrival(qapp, gui_settings) -> None:
    """The window plays a folder as a slideshow that may loop: its images are frames of one
    source, not separate photos, so a face is logged once when it arrives, not on every image."""
    from faceapp.gui.identify_panel import IdentifyPanel
    from faceapp.gui.state import AppState
    from faceapp.types import Detection, FaceResult, Frame, FrameResult, Match

    class Worker:  # all AppState asks of the video worker
        def set_gallery(self, gallery) -> None:
            pass

    def shown(at: float, path: str) -> FrameResult:
        face = FaceResult(Detection((0, 0, 2, 2), np.zeros((5, 2), np.float32), 0.9), Match(None, 1.2, False))
        return FrameResult(Frame(np.zeros((4, 4, 3), np.uint8), 0, at, path), (face,))

    state = AppState(gui_settings, Worker())
    assert state.open_database()
    rule = IdentifyPanel(state).rule  # the window's own rule
    state.source_label = "folder faces (3 images)"
    logged = [len(state.log_sightings(shown(at, path), rule)) for at, path in ((0, "a.jpg"), (0.5, "b.jpg"), (1, "a.jpg"))]
    assert logged == [1, 0, 0]
    assert len(state.log_sightings(shown(1 + state.config.sighting_interval_s + 1, "b.jpg"), rule)) == 1  # back later
    assert [e["source"] for e in state.events()] == ["folder faces (3 images)"] * 2
    state.close_database()
