"""Enrollment wizard: name -> shots (taken by themselves from the video, and/or photo files) ->
review (drop some, warning when the face already matches someone) -> save in one transaction.

The wizard is the window's face of the application layer's enrollment, the same as
``faceapp enroll``: the live shot rule (``ShotCapture``), a photo's one face (``encode_photo``),
the look-alike check (``lookalikes``) and the one storing transaction (``store_shots``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ..app.enrollment import Shot, ShotCapture, encode_photo, lookalikes, store_shots
from ..errors import FaceAppError, ModelError, StoreError
from ..images import IMAGE_SUFFIXES
from ..names import name_key, validate_name
from ..pipeline import EncodedFace, Pipeline
from ..types import FrameResult
from .common import NO, OK, WARN, fmt_distance, rgb_to_pixmap, status_icon
from .state import AppState
from .video_view import FaceLabel
from .worker import JobResult


def encode_photo_file(pipeline: Pipeline | None, path: str) -> EncodedFace:
    """Runs in the worker thread: the one face of a photo file (errors name the file)."""
    if pipeline is None:
        raise ModelError("the face model is not loaded")
    return encode_photo(pipeline, path, label=Path(path).name)


class NamePage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Who is enrolling?")
        self.setSubTitle("Type the person's name. Faces are stored on this computer only.")
        self.edit = QLineEdit(wizard.initial_name)
        self.edit.setPlaceholderText("Full name")
        self.edit.textChanged.connect(self._changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.camera = QCheckBox("Take shots from the video automatically (look at the camera)")
        self.camera.setChecked(wizard.from_camera)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Name:"))
        layout.addWidget(self.edit)
        layout.addWidget(self.note)
        layout.addWidget(self.camera)
        layout.addStretch(1)
        self._changed()

    def _changed(self) -> None:
        text = self.edit.text()
        self.note.setText("")
        if not text.strip():
            self.completeChanged.emit()
            return
        try:
            name = validate_name(text)
        except StoreError as exc:
            self.note.setText(f"{NO} {exc}")
        else:
            for person in self.w.state.people():
                if name_key(person.name) == name_key(name):
                    self.note.setText(
                        f"{WARN} {person.name} is already enrolled ({person.templates} templates): "
                        "the new shots will be added to them."
                    )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        try:
            validate_name(self.edit.text())
        except StoreError:
            return False
        return True

    def validatePage(self) -> bool:
        self.w.name = validate_name(self.edit.text())
        self.w.from_camera = self.camera.isChecked()
        return True


class CapturePage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Shots")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        font = self.hint.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.hint.setFont(font)
        self.bar = QProgressBar()
        self.bar.setFormat("%v of %m shots")
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(64, 64))
        self.thumbs.setFixedHeight(96)
        self.thumbs.setFlow(QListView.Flow.LeftToRight)
        self.add_button = QPushButton("Add photo files…")
        self.add_button.clicked.connect(self._browse)
        self.files = QListWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.bar)
        layout.addWidget(self.thumbs)
        row = QHBoxLayout()
        row.addWidget(QLabel("Photos of the person (one face each):"), 1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        layout.addWidget(self.files, 1)

    def initializePage(self) -> None:
        self.setSubTitle(f"Shots of {self.w.name}.")
        self.bar.setVisible(self.w.from_camera)
        self.bar.setMaximum(self.w.capture.shots_needed)
        self.bar.setValue(len(self.w.capture.shots))
        if self.w.from_camera:
            self.set_hint("info", "Look at the camera: shots are taken automatically when the face is good.")
        else:
            self.set_hint("info", "Add photo files of the person.")

    def set_hint(self, kind: str, text: str) -> None:
        self.hint.setText(text)
        self.hint.setProperty("kind", kind)

    def add_thumb(self, shot: Shot) -> None:
        self.thumbs.addItem(QListWidgetItem(QIcon(rgb_to_pixmap(shot.crop, 64)), ""))
        self.bar.setValue(len(self.w.capture.shots))
        self.completeChanged.emit()

    def _browse(self) -> None:
        suffixes = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        paths, _ = QFileDialog.getOpenFileNames(self, "Photos of the person", "", f"Images ({suffixes});;All files (*)")
        if paths:
            self.w.add_photo_files(paths)

    def isComplete(self) -> bool:
        return bool(self.w.all_shots()) and not self.w.pending


class ReviewPage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Review")
        self.setSubTitle("Untick the shots you do not want to keep, then press Save.")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setSpacing(6)
        self.list.itemChanged.connect(lambda *_: self._update())
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.summary = QLabel()
        self.error = QLabel()
        self.error.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.warning)
        layout.addWidget(self.summary)
        layout.addWidget(self.error)

    def initializePage(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i, shot in enumerate(self.w.all_shots(), 1):
            where = Path(shot.source).name if shot.source else "video"
            item = QListWidgetItem(QIcon(rgb_to_pixmap(shot.crop, 96)), f"{i}: {where}\nquality {shot.quality:.2f}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.error.setText("")
        self.warning.setText(self.w.match_warning())
        self._update()

    def set_kept(self, index: int, keep: bool) -> None:
        self.list.item(index).setCheckState(Qt.CheckState.Checked if keep else Qt.CheckState.Unchecked)

    def kept(self) -> list[Shot]:
        shots = self.w.all_shots()
        return [shots[i] for i in range(self.list.count()) if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def _update(self) -> None:
        n = len(self.kept())
        self.summary.setText(f"{n} of {self.list.count()} shots will be saved for {self.w.name}.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.kept())

    def validatePage(self) -> bool:
        return self.w.save(self.kept())


class EnrollWizard(QWizard):
    saved = Signal(str, int)  # name, templates saved

    def __init__(self, state: AppState, parent: QWidget | None = None, name: str = "", from_camera: bool = True) -> None:
        super().__init__(parent)
        self.state = state
        self.initial_name = name
        self.name = name
        self.from_camera = from_camera
        self.capture = ShotCapture(state.config.enroll_shots, state.config.shot_interval_s)
        self.photo_shots: list[Shot] = []
        self.pending: dict[int, tuple[str, QListWidgetItem]] = {}
        self.file_errors: dict[str, str] = {}
        self.setWindowTitle("Enroll a person")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.name_page = NamePage(self)
        self.capture_page = CapturePage(self)
        self.review_page = ReviewPage(self)
        for page in (self.name_page, self.capture_page, self.review_page):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Save")
        self.resize(640, 520)
        state.worker.job_done.connect(self._job_done)

    def all_shots(self) -> list[Shot]:
        return list(self.capture.shots) + self.photo_shots

    @property
    def capturing(self) -> bool:
        return self.from_camera and self.currentPage() is self.capture_page and not self.capture.done

    # --- shots from the video ------------------------------------------------------------

    def on_result(self, result: FrameResult) -> list[FaceLabel]:
        """Feed a frame while the shots page is showing; returns quality labels for the overlay."""
        if not self.capturing:
            return []
        step = self.capture.offer(result, source=self.state.source_label or None)
        page = self.capture_page
        if step.shot is not None:
            page.add_thumb(step.shot)
        if self.capture.done:
            page.set_hint("ok", f"{OK} {len(self.capture.shots)} shots taken: press Next to review them.")
        elif step.hints:
            page.set_hint("bad", f"{NO} " + "; ".join(step.hints))
        else:
            page.set_hint("ok", f"{OK} Good: hold still …")
        if len(result.faces) == 1:
            face = result.faces[0]
            text = f"{OK} good" if not step.hints else f"{NO} {step.hints[0].split(':')[0]}"
            return [FaceLabel(face.detection.box, text, "ok" if not step.hints else "bad")]
        return [FaceLabel(f.detection.box, f"{NO} one person only", "bad") for f in result.faces]

    # --- shots from photo files ----------------------------------------------------------

    def add_photo_files(self, paths: list[str | Path]) -> None:
        """Encode each file in the worker thread; each gets a line with its own result."""
        queued = {p for p, _ in self.pending.values()} | {shot.source for shot in self.photo_shots} | set(self.file_errors)
        for path in paths:
            path = str(path)
            if path in queued:  # the same file twice would save the same face twice
                continue
            queued.add(path)
            item = QListWidgetItem(f"\u2026 {Path(path).name}: reading")
            self.capture_page.files.addItem(item)
            job_id = self.state.worker.submit(partial(encode_photo_file, path=path))
            self.pending[job_id] = (path, item)
        self.capture_page.completeChanged.emit()

    def _job_done(self, result: JobResult) -> None:
        entry = self.pending.pop(result.job_id, None)
        if entry is None:
            return
        path, item = entry
        if result.error is not None:
            self.file_errors[path] = result.error
            item.setText(f"{NO} {result.error}")
            item.setIcon(status_icon("bad"))
        else:
            face: EncodedFace = result.value
            self.photo_shots.append(Shot.of(face, path))
            hints = face.quality.photo_problems
            note = f" ({WARN} {'; '.join(hints)})" if hints else ""
            item.setText(f"{OK} {Path(path).name}: face found{note}")
            item.setIcon(status_icon("ok"))
            self.capture_page.thumbs.addItem(QListWidgetItem(QIcon(rgb_to_pixmap(face.crop, 64)), ""))
        self.capture_page.completeChanged.emit()

    # --- review and save -----------------------------------------------------------------

    def match_warning(self) -> str:
        """A warning when shots already match someone else who is enrolled, else ''."""
        threshold = self.state.threshold
        if threshold is None:
            return ""
        others = lookalikes(self.all_shots(), self.state.gallery, threshold, self.name)
        if not others:
            return ""
        parts = []
        for other in others:
            nums = ", ".join(str(n) for n in other.shots)
            many = len(other.shots) > 1
            parts.append(f"shot{'s' if many else ''} {nums} match{'' if many else 'es'} {other.name} "
                         f"(distance {fmt_distance(other.distance)} \u2264 {fmt_distance(threshold)})")
        return f"{WARN} This face already matches an enrolled person: " + "; ".join(parts) + ". Is this the right person?"

    def save(self, shots: list[Shot]) -> bool:
        """Store the kept shots in one transaction; False (with the reason shown) on failure."""
        page = self.review_page
        db, info = self.state.db, self.state.info
        if db is None or info is None:
            page.error.setText(f"{NO} Cannot save: " + ("no database is open" if db is None else "the face model is not loaded"))
            return False
        if not shots:
            return False
        config = self.state.config  # privacy settings as they are now, at the moment of storing
        try:
            store_shots(db, self.name, shots, info.model_id, keep_thumbnail=config.keep_thumbnails,
                        keep_crops=config.keep_face_crops, threshold=self.state.threshold, cohort=info.cohort)
        except FaceAppError as exc:
            page.error.setText(f"{NO} Cannot save: {exc}")
            return False
        self.state.changed_people()
        self.saved.emit(self.name, len(shots))
        return True
