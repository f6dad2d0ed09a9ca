"""The main window: live video with labelled faces, the Identify / Verify / Enroll modes, the
people and events panels, and a status bar (source, model, device, detector, frames per second)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..app import AppConfig, AppContext, ConfigError, resolve_config
from ..app.context import PipelineFactory, load_pipeline
from ..app.privacy import encrypt_database, encryption_state
from ..camera import list_cameras, open_source
from ..errors import FaceAppError, StoreError
from ..types import FrameResult
from .common import WARN, MessageArea
from .decisions import FpsMeter
from .enroll_wizard import EnrollWizard
from .attendance_panel import AttendancePanel
from .events_panel import EventsPanel
from .identify_panel import IdentifyPanel, identify_labels
from .people_panel import PeoplePanel
from .prefs import (
    APPLICATION,
    ORGANIZATION,
    GuiPrefs,
    as_in_use,
    config_layer,
    explicit_layer,
    kept_unless_changed,
    rule_summary,
    load_prefs,
    overruled_flags,
    save_prefs,
)
from .settings_dialog import SettingsDialog
from .sources import SourceMenu
from .state import AppState
from .tasks import TaskGroup
from .unknowns_panel import UnknownsPanel
from .verify_panel import VerifyPanel
from .video_view import FaceLabel, VideoView
from .worker import OpenSource, PipelineInfo, VideoWorker, source_label

log = logging.getLogger(__name__)

MODES = ("identify", "verify", "enroll")
# The settings the loaded pipeline was made from: a change to any of them loads it again.
PIPELINE_SETTINGS = ("model_path", "detector_model", "device", "threads", "detection_score", "max_detect_side")
STOP_WAIT_MS = 2000
LAST_WAIT_MS = 30000


class EnrollPanel(QWidget):
    def __init__(self, state: AppState, start: Callable[[bool], object]) -> None:
        super().__init__()
        self.state = state
        text = QLabel(
            "Enroll a person from the live video (shots are taken by themselves when one good, "
            "frontal face is in view) or from photo files."
        )
        text.setWordWrap(True)
        self.from_video = QPushButton("Enroll from the video…")
        self.from_photos = QPushButton("Enroll from photo files…")
        self.from_video.clicked.connect(lambda: start(True))
        self.from_photos.clicked.connect(lambda: start(False))
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.from_video)
        layout.addWidget(self.from_photos)
        layout.addWidget(self.note)
        layout.addStretch(1)
        state.people_changed.connect(self.refresh)  # also emitted when a database opens or fails to
        self.refresh()

    def refresh(self) -> None:
        """Enrolling needs an open database: say so before the wizard, not at its Save."""
        has_db = self.state.db is not None
        self.from_video.setEnabled(has_db)
        self.from_photos.setEnabled(has_db)
        self.note.setText("" if has_db else f"{WARN} No database is open, so nobody can be enrolled: "
                                                "choose one in Settings.")


class MainWindow(QMainWindow):
    def __init__(
        self,
        config: AppConfig,
        source: str | None = None,
        *,
        flags: Mapping[str, Any] | None = None,
        qsettings: QSettings | None = None,
        pipeline_factory: PipelineFactory | None = None,
        open_fn: OpenSource = open_source,
        list_cameras_fn: Callable[[], list[int]] = list_cameras,
    ) -> None:
        """``config``: what the entry point resolved from ``flags``, its command-line layer. The
        window resolves that layer again with its saved preferences beneath it, so a saved choice
        applies wherever the command line said nothing (``flags`` None: the settings of
        ``config`` that differ from the defaults count as given). ``pipeline_factory`` loads the
        pipeline from an AppConfig, in the worker thread (default: faceapp.app.load_pipeline)."""
        super().__init__()
        self.setWindowTitle("faceapp")
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)
        self.prefs = load_prefs(self.qsettings)
        self.flags: dict[str, Any] = dict(flags) if flags is not None else explicit_layer(config)
        self._overruled: frozenset[str] = frozenset()  # flags the settings dialog replaced since
        config = resolve_config(flags=self.flags, prefs=config_layer(self.prefs))
        self._pipeline_factory: PipelineFactory = pipeline_factory or load_pipeline
        self._list_cameras = list_cameras_fn
        self.mode = "identify"
        self._working_mode = "identify"  # the last mode that recognises people (not enroll)
        self.current_source: str | None = None
        self.last_result: FrameResult | None = None
        self.last_labels: list[FaceLabel] = []
        self.wizard: EnrollWizard | None = None
        self.fps = FpsMeter()
        self._closed = False
        self._info_timer = QTimer(self)  # clears passing source messages ("reconnected ...")
        self._info_timer.setSingleShot(True)
        self._info_timer.setInterval(4000)
        self._info_timer.timeout.connect(self._clear_source_info)

        self.worker = VideoWorker(config, self._pipeline_factory, open_fn)
        self.worker.set_encode_every_frame(False)  # the window starts in Identify mode (see set_mode)
        self.tasks = TaskGroup()  # every thread this window starts, joined when it shuts down
        self.worker_thread = self.tasks.create(self.worker.run, name="faceapp-worker")
        self.state = AppState(config, self.worker, self)  # holds the configuration from now on
        self.worker.set_threshold(config.threshold)  # a plain value: the worker never sees the configuration's origin
        self._build()
        self._connect()

        self.messages.show_message("model", "info", "Loading the face model …")
        self.state.open_database()
        if source:
            self.set_source(source, remember=False)
        elif self.prefs.source:
            self.set_source(self.prefs.source, remember=False)
        else:
            self.find_cameras(start_first=True)
        self.worker_thread.start()  # last: a failure above must not leave a running thread

    # --- building --------------------------------------------------------------------

    def _build(self) -> None:
        self.messages = MessageArea()
        self.video = VideoView()
        self.identify_panel = IdentifyPanel(self.state)
        self.verify_panel = VerifyPanel(self.state)
        self.enroll_panel = EnrollPanel(self.state, lambda camera: self.start_enroll(from_camera=camera))
        self.mode_stack = QStackedWidget()
        for panel in (self.identify_panel, self.verify_panel, self.enroll_panel):
            self.mode_stack.addWidget(panel)
        self.people_panel = PeoplePanel(self.state)
        self.events_panel = EventsPanel(self.state)
        self.attendance_panel = AttendancePanel(self.state)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.people_panel, "People")
        self.tabs.addTab(self.events_panel, "Events")
        self.tabs.addTab(self.attendance_panel, "Attendance")
        self.unknowns_panel = UnknownsPanel(self.state)
        self.tabs.addTab(self.unknowns_panel, "Who is this?")
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.mode_stack)
        side.addWidget(self.tabs)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.video)
        main.addWidget(side)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.messages)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)

        self.source_menu = SourceMenu(self)
        self.source_menu.loop_action.setChecked(self.prefs.loop)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        source_button = QToolButton()
        source_button.setText("Source")
        source_button.setMenu(self.source_menu)
        source_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        toolbar.addWidget(source_button)
        toolbar.addSeparator()
        self.mode_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for i, mode in enumerate(MODES, 1):
            action = QAction(mode.capitalize(), self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{i}"))
            action.triggered.connect(lambda _=False, m=mode: self.set_mode(m))
            group.addAction(action)
            toolbar.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions["identify"].setChecked(True)
        toolbar.addSeparator()
        toolbar.addAction("Settings…", self.open_settings)

        bar = self.statusBar()
        self.source_status = QLabel("Source: none")
        self.model_status = QLabel("Model: loading …")
        self.device_status = QLabel("Device: -")
        self.detector_status = QLabel("Detector: -")
        self.fps_status = QLabel("0.0 fps")
        for label in (self.source_status, self.model_status, self.device_status, self.detector_status, self.fps_status):
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
        self.resize(1200, 760)

    def _connect(self) -> None:
        w = self.worker
        w.result_ready.connect(self._on_result_ready)
        w.pipeline_ready.connect(self._on_pipeline_ready)
        w.pipeline_failed.connect(self._on_pipeline_failed)
        w.source_started.connect(self._on_source_started)
        w.source_status.connect(self._on_source_status)
        w.source_failed.connect(self._on_source_failed)
        w.source_ended.connect(self._on_source_ended)
        self.state.error.connect(lambda text: self.messages.show_message("database", "error", text))
        self.state.action_failed.connect(lambda text: self.messages.show_message("action", "error", text))
        self.state.people_changed.connect(lambda: self.messages.clear("action"))  # the next change succeeded
        self.source_menu.source_chosen.connect(lambda spec: self.set_source(spec))
        self.source_menu.refresh_requested.connect(lambda: self.find_cameras(start_first=False))
        self.source_menu.stop_requested.connect(self.stop_source)
        self.source_menu.loop_action.toggled.connect(self._loop_toggled)
        # Templates added, re-encoded or removed: the stale-template warning is rechecked.
        self.state.people_changed.connect(lambda: self.state.info is not None and self._warn_stale(self.state.info))
        self.people_panel.add_photos_requested.connect(lambda name: self.start_enroll(name, from_camera=False))
        self.people_panel.enroll_requested.connect(lambda: self.start_enroll())

    # --- sources ---------------------------------------------------------------------

    def set_source(self, spec: str, remember: bool = True) -> None:
        """Play ``spec`` (camera index, video file, image folder or stream URL)."""
        self.current_source = spec
        self.state.set_source(source_label(spec))
        if remember and spec != self.prefs.source:
            self._save(replace(self.prefs, source=spec))
        self.messages.clear("source")
        self.last_result = None  # of the previous source: its failure text must not hide behind it
        self.source_status.setText(f"Source: {self.state.source_label} (opening …)")
        self.video.clear(f"Opening {self.state.source_label} …")
        self.fps.reset()
        self.worker.set_source(spec, loop=self.prefs.loop, max_side=self.prefs.max_side())

    def stop_source(self) -> None:
        self.worker.set_source(None)
        self.current_source = None
        self.state.source_live = False
        self.messages.clear("source")  # a 'trying again' message no longer holds
        self.source_status.setText("Source: none")
        self.video.clear("Stopped. Choose a source in the Source menu.")

    def _loop_toggled(self, checked: bool) -> None:
        self._save(replace(self.prefs, loop=checked))
        if self.current_source:
            self.set_source(self.current_source, remember=False)

    def find_cameras(self, start_first: bool = False) -> None:
        """Probe the cameras in the background; with ``start_first`` play the first one found,
        or offer files when there is none."""
        self.source_menu.set_cameras(None)
        task = self.tasks.create(self._list_cameras, name="faceapp-cameras")
        task.returned.connect(lambda found: self._cameras_found(found, start_first))
        task.errored.connect(lambda _error: self._cameras_found([], start_first))
        task.start()

    def _cameras_found(self, found: object, start_first: bool) -> None:
        cameras = found if isinstance(found, list) else []
        self.source_menu.set_cameras(cameras)
        if not start_first or self.current_source is not None:
            return
        if cameras:
            self.set_source(str(cameras[0]), remember=False)
            return
        self.video.clear("No camera found.\nOpen a video file, an image folder or a stream from the Source menu.")
        self.messages.show_message("source", "warning", "No camera found. Open a video file, an image folder or a stream instead.",
                                   self._open_actions())

    def _open_actions(self) -> list[tuple[str, Callable[[], object]]]:
        return [
            ("Open video file…", self.source_menu.open_video),
            ("Open image folder…", self.source_menu.open_folder),
            ("Stream URL…", self.source_menu.open_url),
        ]

    def _on_source_started(self, label: str) -> None:
        self.state.source_live = True
        self.source_status.setText(f"Source: {label}")
        if self.messages.kind("source") in ("error", "warning"):
            self.messages.show_message("source", "info", f"{label}: receiving frames again.")
            self._info_timer.start()

    def _on_source_status(self, text: str) -> None:
        reconnecting = "reconnecting" in text or "again" in text
        self.messages.show_message("source", "warning" if reconnecting else "info", text)
        if not reconnecting:
            self._info_timer.start()

    def _clear_source_info(self) -> None:
        if self.messages.kind("source") == "info" and "ended" not in self.messages.text("source"):
            self.messages.clear("source")

    def _on_source_failed(self, text: str, retrying: bool) -> None:
        self.state.source_live = False
        self.fps.reset()
        self.fps_status.setText("0.0 fps")
        label = self.state.source_label
        self.source_status.setText(f"Source: {label} ({'disconnected' if retrying else 'failed'})")
        if retrying:
            text += f". Trying again every {self.worker.retry_s:g} s; it will resume when it is back."
        self.messages.show_message("source", "error", text, self._open_actions())
        if self.last_result is None:
            self.video.clear(text)
        self.verify_panel.source_stopped()  # even while retrying: nobody should wait at the door for it

    def _on_source_ended(self, label: str) -> None:
        self.state.source_live = False
        self.fps.reset()
        self.fps_status.setText("0.0 fps")
        self.source_status.setText(f"Source: {label} (ended)")
        actions = [("Play again", lambda: self.current_source and self.set_source(self.current_source, remember=False))]
        self.messages.show_message("source", "info", f"{label} ended.", actions + self._open_actions()[:2])
        self.verify_panel.source_stopped()

    # --- pipeline ----------------------------------------------------------------------

    def _on_pipeline_ready(self, info: PipelineInfo) -> None:
        self.state.info = info
        if self.state.threshold is None:  # the card could not be read when the settings were resolved
            config = self._resolve()
            if config is not None:
                self.apply_config(config)
        threshold = self.state.threshold
        self.messages.clear("model")
        self.model_status.setText(f"Model: {info.model_id}")
        self.model_status.setToolTip(rule_summary(self.state.config))
        gpu = info.device.startswith("cuda")
        runtime = "ONNX Runtime" if info.runtime == "onnx" else "torch"
        self.device_status.setText(f"Device: {'GPU (' + info.device + ')' if gpu else 'CPU'}, {runtime}")
        if info.detector_quality == "low":
            self.detector_status.setText(f"{WARN} Detector: {info.detector} (low quality fallback)")
            self.detector_status.setToolTip(
                "The YuNet detector model was not found, so OpenCV's Haar cascade is used: it misses turned "
                "faces and aligns them roughly. Set FACEAPP_DETECTOR_MODEL to a YuNet .onnx file."
            )
        else:
            self.detector_status.setText(f"Detector: {info.detector}")
            self.detector_status.setToolTip("")
        log.info("model %s on %s (%s), threshold %.4f, detector %s, database %s", info.model_id, info.device,
                 runtime, float("nan") if threshold is None else threshold, info.detector, self.state.config.db_label)
        self.state.reload_gallery()
        self.state.people_changed.emit()  # which also rechecks the stale-template warning

    def _warn_stale(self, info: PipelineInfo) -> None:
        if self.state.db is None:
            return
        try:
            counts = self.state.db.stale_report(info.model_id)
        except StoreError:
            return
        if not counts.total:
            self.messages.clear("stale")
            return
        count = counts.total
        text = (f"{count} template{'s were' if count != 1 else ' was'} made by another model "
                f"({', '.join(counts.by_model)}) and cannot be compared: ")
        if not counts.recoverable:
            text += "add photos of those people again (People tab)."
            self.messages.show_message("stale", "warning", text)
            return
        text += f"{counts.recoverable} can be re-encoded (from their kept face crop or enrollment photo)"
        text += f"; add photos of the people of the other {counts.lost} again." if counts.lost else "."
        self.messages.show_message("stale", "warning", text, [("Re-encode", self.reencode_templates)])

    def reencode_templates(self) -> None:
        """Re-encode the other models' templates with the loaded model, from their kept crops or
        enrollment photos, off the GUI thread; the result replaces the warning. The job gets a
        context of its own (its own database connection, and its own encoder, plus a detector
        when photos must be aligned again), so the video goes on meanwhile."""
        from ..app.maintenance import reencode_database

        job = AppContext(self.state.config, self._pipeline_factory)
        self.messages.show_message("stale", "info", "Re-encoding templates with the current model…")

        def work():
            return reencode_database(job).report

        task = self.tasks.create(work, name="faceapp-reencode")
        task.returned.connect(self._on_reencoded)
        task.errored.connect(self._on_reencoded)  # it shows the exception as the reason
        task.start()

    def _on_reencoded(self, result) -> None:
        if isinstance(result, Exception):
            self.messages.show_message("stale", "error", f"Re-encoding stopped: {result}. Templates re-encoded before "
                                       "that keep their new encodings; the others are unchanged.")
            return
        people = "person" if result.people == 1 else "people"
        text = f"Re-encoded {result.reencoded} template{'s' if result.reencoded != 1 else ''} of {result.people} {people}"
        text += f" ({result.from_photos} from their enrollment photo)." if result.from_photos else "."
        if result.unreadable:
            text += f" {result.unreadable} kept crop{'s' if result.unreadable != 1 else ''} could not be used (damaged, or not this model's input size); their templates stay as they were."
        self.messages.show_message("reencode", "info", text)
        self.state.changed_people()  # rechecks the stale warning: cleared, or says who must enroll again

    def _on_pipeline_failed(self, text: str) -> None:
        self.state.info = None
        self.state.reload_gallery()
        self.model_status.setText(f"{WARN} Model: not loaded")
        self.messages.show_message("model", "error", f"Cannot load the face model: {text}", [("Settings…", self.open_settings)])

    # --- results -----------------------------------------------------------------------

    def _on_result_ready(self) -> None:
        result = self.worker.take_latest()
        if result is None or self._closed:
            return
        if self.current_source is None:  # a stopped source's last result: its tracks' ends, logged, not shown
            self._labels_for(result)
            return
        self.last_result = result
        labels = self._labels_for(result)
        self.last_labels = labels
        self.video.show_frame(result.frame.image, labels)
        self.fps_status.setText(f"{self.fps.tick():.1f} fps")

    def _labels_for(self, result: FrameResult) -> list[FaceLabel]:
        if self.state.info is None:
            return []
        if self.wizard is not None and self.wizard.capturing:
            return self.wizard.on_result(result)
        if self.mode == "verify":
            return self.verify_panel.on_result(result) or identify_labels(result)
        if self.mode == "identify":
            return self.identify_panel.on_result(result)
        return identify_labels(result)

    # --- modes -------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if self.mode == "verify" and mode != "verify":
            self.verify_panel.cancel()
        if mode != "enroll":
            self._working_mode = mode  # where the window returns once an enrollment is over
        self.mode = mode
        # Identify follows tracks and encodes a face only when its track needs it; live verify
        # and enrollment judge every frame, so they need every face encoded.
        self.worker.set_encode_every_frame(mode != "identify")
        self.mode_actions[mode].setChecked(True)
        self.mode_stack.setCurrentIndex(MODES.index(mode))

    def start_enroll(self, name: str = "", from_camera: bool = True) -> EnrollWizard:
        """Open the enrollment wizard (non-modal: the video keeps running under it)."""
        if self.wizard is not None:
            self.wizard.raise_()
            return self.wizard
        self.set_mode("enroll")
        wizard = EnrollWizard(self.state, self, name=name, from_camera=from_camera)
        wizard.finished.connect(self._wizard_closed)
        self.wizard = wizard
        wizard.show()
        return wizard

    def _wizard_closed(self) -> None:
        """Back to Identify or Verify, whichever was on before: in Enroll mode nobody is
        recognised or logged, and an attendance screen must not stay there unnoticed."""
        if self.wizard is not None:
            self.wizard.deleteLater()
            self.wizard = None
        if self.mode == "enroll":
            self.set_mode(self._working_mode)

    # --- settings ----------------------------------------------------------------------

    def open_settings(self) -> SettingsDialog:
        info, config = self.state.info, self.state.config
        saved = replace(self.prefs, source=self.current_source or self.prefs.source)
        shown = as_in_use(saved, config) if info else saved
        dialog = SettingsDialog(
            shown,
            dict(config.thresholds) if info else None,
            config.default_level if info else None,
            self,
            in_use=f"database {config.db_label}; model {config.model_path}; "
                   f"device {info.device if info else config.device}",
            encryption=encryption_state(config),
            encrypt=self.encrypt_database,
            open_set_levels=config.fpir_levels if info else None,
            default_open_set_level=config.default_open_set_level if info else None,
        )
        dialog.accepted.connect(lambda: self.apply_prefs(kept_unless_changed(saved, shown, dialog.prefs())))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def encrypt_database(self) -> str:
        """Encrypt the database in use (the application layer's use-case, which needs the file to
        itself: the window's connection closes first and opens again after); returns its state."""
        self.state.close_database()
        try:
            encrypt_database(self.state.config)
        except FaceAppError as exc:
            self.messages.show_message("database", "error", f"The database was not encrypted: {exc}")
        else:
            self.messages.show_message("database", "info", "The database is encrypted now.")
        self.state.open_database()
        return encryption_state(self.state.config)

    def _save(self, prefs: GuiPrefs) -> None:
        self.prefs = prefs
        save_prefs(self.qsettings, prefs)

    def apply_prefs(self, new: GuiPrefs) -> None:
        """Save the preferences, resolve the configuration again and apply what changed
        (threshold, model, database, the live settings, source)."""
        old = self.prefs
        self._save(new)
        self._overruled = overruled_flags(old, new, self._overruled)  # the user's new choice beats the command line
        config = self._resolve()
        if config is not None:
            self.apply_config(config)
        playing = self.current_source or old.source
        if new.source and (new.source, new.loop, new.resolution) != (playing, old.loop, old.resolution):
            self.source_menu.loop_action.blockSignals(True)
            self.source_menu.loop_action.setChecked(new.loop)
            self.source_menu.loop_action.blockSignals(False)
            self.set_source(new.source, remember=False)

    def _resolve(self) -> AppConfig | None:
        """The configuration from the command line (less what the settings dialog overruled) over
        the saved preferences; None, with the reason shown, when it cannot be resolved (e.g. a
        --far level that a newly chosen model's card lacks)."""
        flags = {key: value for key, value in self.flags.items() if key not in self._overruled}
        try:
            config = resolve_config(flags=flags, prefs=config_layer(self.prefs))
        except ConfigError as exc:
            self.messages.show_message("settings", "error", f"The settings cannot be applied: {exc}",
                                       [("Settings…", self.open_settings)])
            return None
        self.messages.clear("settings")
        return config

    def apply_config(self, config: AppConfig) -> None:
        """Replace the configuration whole, then act on what changed: the worker's threshold
        (from its next frame on), the database, the model (loaded again in the worker)."""
        old = self.state.config
        self.state.set_config(config)  # the panels re-read their live settings from it
        self.worker.set_config(config)  # the open-set level and margin its next frame is decided by
        self.worker.set_threshold(config.threshold)  # None (no readable card): nobody is named
        if self.state.info is not None:
            self.model_status.setToolTip(rule_summary(config))
        if config.db != old.db:
            self.messages.clear("database")
            self.state.open_database()
        if any(getattr(config, name) != getattr(old, name) for name in PIPELINE_SETTINGS):
            self.state.info = None
            self.state.reload_gallery()  # no matching against the old model's templates meanwhile
            self.model_status.setText("Model: loading …")
            self.messages.show_message("model", "info", "Loading the face model …")
            self.worker.reload(config)

    # --- closing -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop capture and inference and close the database; idempotent. Never terminates a
        thread: each of the window's tasks is asked to stop and waited for."""
        if self._closed:
            return
        self._closed = True
        if self.wizard is not None:
            self.wizard.close()
        self.worker.stop()  # wakes the loop at once; the group's abort would end it a turn later
        self.tasks.shutdown(STOP_WAIT_MS + LAST_WAIT_MS, warn_after_ms=STOP_WAIT_MS)  # the model may be loading
        self.state.close_database()
