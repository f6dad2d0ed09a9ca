"""Settings: source and resolution, security level (the model card's FAR levels or a custom
threshold), how many strangers "who is this?" may name (the card's FPIR levels), device, model and database paths, thumbnails, the verify/identify/enroll knobs,
and privacy: how long events are kept and whether the database is encrypted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..app.server_passwords import keep_password
from ..errors import FaceAppError
from .prefs import (
    CUSTOM_LEVEL,
    DEVICES,
    MAX_RETENTION_DAYS,
    RESOLUTIONS,
    GuiPrefs,
    far_label,
    sanitize,
    security_levels,
)

# What the Privacy box says of the database in use, by faceapp.app.privacy.encryption_state.
ENCRYPTION_TEXT = {
    "encrypted": "Encrypted (SQLCipher); its key is in the system keyring or $FACEAPP_DB_KEY",
    "not encrypted": "Not encrypted: only its file permissions protect it. Encrypt it here, or with "
                     "'faceapp db encrypt' while no faceapp has it open",
    "no database yet": "No database yet; run 'faceapp db encrypt' once it exists to encrypt it",
    "server": "On a PostgreSQL server: its own storage encryption applies",
}


def _path_row(edit: QLineEdit, browse: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row


class SettingsDialog(QDialog):
    def __init__(
        self,
        prefs: GuiPrefs,
        thresholds: dict[str, float] | None = None,
        default_level: str | None = None,
        parent: QWidget | None = None,
        in_use: str = "",
        encryption: str = "",
        encrypt: Callable[[], str] | None = None,
        open_set_levels: tuple[str, ...] | None = None,
        default_open_set_level: str | None = None,
    ) -> None:
        """``thresholds``/``default_level``: the model card's FAR levels (None: the model is not
        loaded, so the saved choice is kept as it is); ``open_set_levels`` /
        ``default_open_set_level`` likewise its FPIR levels (None: not loaded; empty: it has none). ``in_use``: what the window runs with now (database, model, device), shown because
        a command-line option such as --db wins over an empty field here."""
        super().__init__(parent)
        self.setWindowTitle("faceapp settings")
        self._prefs = prefs
        thresholds = thresholds or {}

        self.source = QLineEdit(prefs.source)
        self.source.setPlaceholderText("camera index (0), video file, image folder or stream URL")
        browse_source = QPushButton("Browse…")
        browse_source.clicked.connect(lambda: self._browse(self.source, "Video file or image", folder=False))
        self.loop = QCheckBox("Restart video files and folders when they end")
        self.loop.setChecked(prefs.loop)
        self.resolution = QComboBox()
        for r in RESOLUTIONS:
            self.resolution.addItem("as delivered" if r == "native" else r, r)
        self.resolution.setCurrentIndex(max(0, self.resolution.findData(prefs.resolution)))

        self.level = QComboBox()
        for level, distance in security_levels(thresholds):
            default = " (default)" if level == default_level else ""
            self.level.addItem(f"False accepts {far_label(level)}: distance \u2264 {distance:.4g}{default}", level)
        if not thresholds and prefs.security_level != CUSTOM_LEVEL:  # model not loaded: keep the choice
            self.level.addItem("as chosen before (the model is not loaded)", prefs.security_level)
        self.level.addItem("Custom threshold", CUSTOM_LEVEL)
        wanted = prefs.security_level or (default_level or "")
        self.level.setCurrentIndex(max(0, self.level.findData(wanted)))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.01, 2.0)  # 0 would accept nobody, and means 'unset' to the preferences
        self.threshold.setDecimals(4)
        self.threshold.setSingleStep(0.001)
        fallback = thresholds.get(default_level or "", 0.0)
        self.threshold.setValue(prefs.custom_threshold or fallback)
        self.level.currentIndexChanged.connect(lambda *_: self._level_changed())
        self._level_changed()
        self.strangers = self._open_set_combo(prefs.open_set_level, open_set_levels, default_open_set_level)

        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem({"auto": "automatic (GPU when present)", "cpu": "CPU", "cuda": "GPU (CUDA)"}[d], d)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.model_path = QLineEdit(prefs.model_path)
        self.model_path.setPlaceholderText("the shipped model")
        browse_model = QPushButton("Browse…")
        browse_model.clicked.connect(lambda: self._browse(self.model_path, "Model card", folder=False, filter="Model card (*.json)"))
        self.db_path = QLineEdit(prefs.db_path)
        # A file, or a shared PostgreSQL server's URL; a password typed into it is never saved
        # here (accept() moves it to the keyring or libpq's password file).
        self.db_path.setPlaceholderText("the default database, or postgresql://user@host/dbname")
        browse_db = QPushButton("Browse…")
        browse_db.clicked.connect(lambda: self._browse(self.db_path, "Database", folder=False, save=True))
        self.keep_thumbnails = QCheckBox("Keep a face thumbnail of each enrolled person")
        self.keep_thumbnails.setChecked(prefs.keep_thumbnails)
        self.keep_face_crops = QCheckBox("Keep each enrolled face crop, so a new model can re-encode it")
        self.keep_face_crops.setChecked(prefs.keep_face_crops)

        self.shots = self._spin(prefs.enroll_shots, 1, 50)
        self.window = self._spin(prefs.verify_window, 1, 50)
        self.needed = self._spin(prefs.verify_needed, 1, prefs.verify_window)
        self.window.valueChanged.connect(self.needed.setMaximum)  # never 'needs 10 of the last 7'
        self.max_rejections = self._spin(prefs.max_rejections, 1, 100)
        self.lockout = self._spin(int(prefs.lockout_s), 0, 3600, " s")
        self.interval = self._spin(max(1, int(prefs.sighting_interval_s)), 1, 86400, " s")  # 0: everyone arrives every frame
        self.retention = self._spin(prefs.retention_days, 0, MAX_RETENTION_DAYS, " days")
        self.retention.setSpecialValueText("forever")  # 0: never purged
        self.encryption = QLabel(ENCRYPTION_TEXT.get(encryption, encryption))
        self.encryption.setWordWrap(True)
        # The window closes its connection, converts the file and opens it again; it returns the new state.
        self.encrypt_button = QPushButton("Encrypt the database now")
        self.encrypt_button.setVisible(encrypt is not None and encryption == "not encrypted")
        if encrypt is not None:
            self.encrypt_button.clicked.connect(lambda: self._encrypted(encrypt()))

        source_box = QGroupBox("Video source")
        form = QFormLayout(source_box)
        form.addRow("Source:", _path_row(self.source, browse_source))
        form.addRow("", self.loop)
        form.addRow("Resolution:", self.resolution)
        security_box = QGroupBox("Security")
        form = QFormLayout(security_box)
        form.addRow("Level:", self.level)
        form.addRow("Custom threshold:", self.threshold)
        form.addRow("Identify may name:", self.strangers)
        form.addRow("Verify needs", self._pair(self.needed, " agreeing of the last ", self.window, " frames with a face"))
        form.addRow("Lock out after", self._pair(self.max_rejections, " rejections for ", self.lockout, ""))
        form.addRow("Log people who arrive after an absence of", self.interval)
        form.addRow("Enrollment shots:", self.shots)
        model_box = QGroupBox("Model and data")
        form = QFormLayout(model_box)
        form.addRow("Device:", self.device)
        form.addRow("Model card:", _path_row(self.model_path, browse_model))
        form.addRow("Database:", _path_row(self.db_path, browse_db))
        form.addRow("", self.keep_thumbnails)
        form.addRow("", self.keep_face_crops)
        self.in_use = QLabel(f"In use now: {in_use}" if in_use else "")
        self.in_use.setWordWrap(True)
        form.addRow("", self.in_use)

        privacy_box = QGroupBox("Privacy")
        form = QFormLayout(privacy_box)
        form.addRow("Keep events for:", self.retention)
        form.addRow("Database:", self.encryption)
        form.addRow("", self.encrypt_button)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for box in (source_box, security_box, model_box, privacy_box):
            layout.addWidget(box)
        layout.addWidget(buttons)

    @staticmethod
    def _open_set_combo(saved: str, levels: tuple[str, ...] | None, default: str | None) -> QComboBox:
        """The card's FPIR levels, most lenient first: the share of strangers that identify and
        attendance may name (each level's distance depends on how many people are enrolled)."""
        combo = QComboBox()
        combo.setToolTip("How often a stranger, someone never enrolled, may be named as an enrolled person. "
                         "Stricter levels name fewer strangers and leave more enrolled people unnamed; "
                         "the distance allowed shrinks as more people are enrolled.")
        if levels is None:  # model not loaded: keep the choice
            combo.addItem("as chosen before (the model is not loaded)", saved)
        elif not levels:
            combo.addItem("anyone within the security level's distance (the model card has no open-set levels)", saved)
            combo.setEnabled(False)
        for level in levels or ():
            suffix = " (default)" if level == default else ""
            combo.addItem(f"{far_label(level)} strangers{suffix}", level)
        combo.setCurrentIndex(max(0, combo.findData(saved or (default or ""))))
        return combo

    @staticmethod
    def _spin(value: int, low: int, high: int, suffix: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(suffix)
        return spin

    @staticmethod
    def _pair(a: QWidget, middle: str, b: QWidget, end: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(a)
        layout.addWidget(QLabel(middle))
        layout.addWidget(b)
        if end:
            layout.addWidget(QLabel(end))
        layout.addStretch(1)
        return row

    def _encrypted(self, state: str) -> None:
        self.encryption.setText(ENCRYPTION_TEXT.get(state, state))
        self.encrypt_button.setVisible(state == "not encrypted")

    def _level_changed(self) -> None:
        self.threshold.setEnabled(self.level.currentData() == CUSTOM_LEVEL)

    def _browse(self, edit: QLineEdit, title: str, folder: bool, filter: str = "", save: bool = False) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, title, edit.text())
        elif save:
            path, _ = QFileDialog.getSaveFileName(self, title, edit.text(), "SQLite database (*.db);;All files (*)",
                                                  options=QFileDialog.Option.DontConfirmOverwrite)
        else:
            path, _ = QFileDialog.getOpenFileName(self, title, edit.text(), filter)
        if path:
            edit.setText(path)

    def accept(self) -> None:
        """Close with OK, after moving a database URL's password out of the field, so that the
        saved settings never hold it; if it cannot be kept, say so and stay open."""
        try:
            self.db_path.setText(keep_password(self.db_path.text().strip()))
        except FaceAppError as exc:
            QMessageBox.warning(self, "faceapp settings", str(exc))
            return
        super().accept()

    def prefs(self) -> GuiPrefs:
        """The preferences as edited (also when the dialog was cancelled: check ``result()``)."""
        level = self.level.currentData()
        return sanitize(
            replace(
                self._prefs,
                source=self.source.text().strip(),
                loop=self.loop.isChecked(),
                resolution=self.resolution.currentData(),
                security_level=level,
                custom_threshold=float(self.threshold.value()),
                open_set_level=self.strangers.currentData(),
                device=self.device.currentData(),
                model_path=self.model_path.text().strip(),
                db_path=self.db_path.text().strip(),
                keep_thumbnails=self.keep_thumbnails.isChecked(),
                keep_face_crops=self.keep_face_crops.isChecked(),
                enroll_shots=self.shots.value(),
                verify_window=self.window.value(),
                verify_needed=self.needed.value(),
                max_rejections=self.max_rejections.value(),
                lockout_s=float(self.lockout.value()),
                sighting_interval_s=float(self.interval.value()),
                retention_days=self.retention.value(),
            )
        )
