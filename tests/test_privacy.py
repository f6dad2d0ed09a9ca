"""Face data at rest through the front ends: every command on an encrypted database, the one-line
errors for a missing or wrong key, ``events purge``, ``people export``, deletion on disk, and the
window's privacy settings and daily purge.

Everything is real: in-repo face photos, the shipped detector and encoder, SQLite files under
tmp_path; the key comes from FACEAPP_DB_KEY, as on a machine without a desktop keyring.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from faceapp.cli import main

from conftest import RepoFaces

pytest.importorskip("sqlcipher3", reason="SQLCipher (sqlcipher3-binary) is not installed")

KEY = "x'" + "7e" * 32 + "'"
NAME = "Person E"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shipped detector, and defaults that can never reach the user's real database or key."""
    for name in ("FACEAPP_DETECTOR_MODEL", "FACEAPP_MODEL", "FACEAPP_DB_KEY", "FACEAPP_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEAPP_DB", str(tmp_path / "default-never-used.db"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "faceapp.db"


@pytest.fixture
def cli(db: Path, shipped_model_card: Path, capsys: pytest.CaptureFixture):
    def run(*args: object) -> Result:
        code = main(["--db", str(db), "--model", str(shipped_model_card), *(str(a) for a in args)])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def one_line_error(result: Result, *words: str) -> None:
    assert result.code == 2 and result.out == "", result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceapp: error: "), result.err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_every_command_works_on_an_encrypted_database_and_decrypting_gives_every_row_back(
        cli, db: Path, repo_faces: RepoFaces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hungry, want = repo_faces.hungry, repo_faces.want
    assert cli("enroll", NAME, hungry[0], hungry[1]).code == 0
    keyring = pytest.importorskip("keyring")
    if getattr(keyring.get_keyring(), "priority", 0) < 1:  # no system keyring (CI): without a key, refused
        plain = db.read_bytes()
        one_line_error(cli("db", "encrypt"), str(db), "FACEAPP_DB_KEY")
        assert db.read_bytes() == plain

    monkeypatch.setenv("FACEAPP_DB_KEY", KEY)
    result = cli("db", "encrypt")
    assert result.code == 0 and "encrypted" in result.out and "FACEAPP_DB_KEY" in result.out
    assert not db.read_bytes().startswith(b"SQLite format 3") and NAME.encode() not in db.read_bytes()
    assert cli("enroll", NAME, hungry[2]).code == 0
    assert json.loads(cli("people", "list", "--json").out)[0]["templates"] == 3
    assert cli("verify", NAME, want[0]).code in (0, 1)  # decided, whichever way: the database answered
    identified = cli("identify", hungry[3], "--json")
    assert identified.code == 0 and json.loads(identified.out)["faces"], identified
    templates = json.loads(cli("people", "templates", NAME, "--json").out)
    assert cli("people", "remove-template", NAME, templates[0]["id"], "--yes").code == 0
    assert cli("reencode").code == 0
    assert cli("people", "rename", NAME, "Person Eee").code == 0
    assert cli("people", "export", "Person Eee", tmp_path / "e.zip").code == 0
    assert cli("events", "purge", "--older-than", "30d").out.startswith("erased 0 events")
    assert NAME.encode() not in db.read_bytes()

    monkeypatch.delenv("FACEAPP_DB_KEY")
    one_line_error(cli("people", "list"), str(db), "encrypted", "FACEAPP_DB_KEY")
    monkeypatch.setenv("FACEAPP_DB_KEY", "x'" + "00" * 32 + "'")
    one_line_error(cli("people", "list"), str(db), "key is wrong")
    one_line_error(cli("db", "decrypt"), str(db), "key is wrong")
    monkeypatch.setenv("FACEAPP_DB_KEY", KEY)
    result = cli("db", "decrypt")
    assert result.code == 0 and "(1 person, 2 templates, 4 events, 0 unknown groups, 0 unknown sightings)" in result.out, result  # 2 enroll, verify, identify
    conn = sqlite3.connect(db)  # plain SQLite again, every row there
    try:
        assert conn.execute("SELECT name FROM people").fetchall() == [("Person Eee",)]
        assert conn.execute("SELECT COUNT(*) FROM templates").fetchone()[0] == 2
    finally:
        conn.close()


def test_people_delete_leaves_nothing_on_disk_and_export_hands_back_a_persons_data(
        cli, db: Path, repo_faces: RepoFaces, tmp_path: Path) -> None:
    assert cli("enroll", NAME, repo_faces.hungry[0], repo_faces.hungry[1]).code == 0
    assert cli("identify", repo_faces.want[0]).code == 0
    out = tmp_path / "subject-access.zip"
    result = cli("people", "export", NAME, out)
    assert result.code == 0 and "2 templates, 2 face crops" in result.out
    with zipfile.ZipFile(out) as archive:
        record = json.loads(archive.read("person.json"))
        crops = [archive.read(t["crop"]) for t in record["templates"]]
    assert record["name"] == NAME and len(crops) == 2 and record["thumbnail"]
    one_line_error(cli("people", "export", NAME, out), "already exists")
    one_line_error(cli("people", "export", "Nobody", tmp_path / "x.zip"), "Nobody")

    assert cli("people", "delete", NAME, "--yes").code == 0
    raw = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    assert NAME.encode() not in raw and all(crop[2000:2064] not in raw for crop in crops)


def test_events_purge_erases_only_the_older_events(cli, db: Path, repo_faces: RepoFaces) -> None:
    assert cli("enroll", NAME, repo_faces.hungry[0], repo_faces.hungry[1]).code == 0
    for photo in repo_faces.want[:3]:
        assert cli("identify", photo).code == 0
    conn = sqlite3.connect(db)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
        old = (datetime.now(timezone.utc) - timedelta(days=31)).isoformat(timespec="milliseconds")
        conn.executemany("UPDATE events SET at = ? WHERE id = ?", [(old, i) for i in ids[:2]])
        conn.commit()
    finally:
        conn.close()
    one_line_error(cli("events", "purge", "--older-than", "thirty days"), "30d")
    assert cli("events", "purge", "--older-than", "30d").out == "erased 2 events older than 30d\n"
    assert cli("events", "purge", "--older-than", "30d").out == "erased 0 events older than 30d\n"
    assert cli("events", "purge", "--older-than", "0h").out == f"erased {len(ids) - 2} events older than 0h\n"


# -- the window ----------------------------------------------------------------------------------


def test_settings_show_encryption_and_set_the_retention_period(qtbot, tmp_path: Path) -> None:
    from faceapp.gui.prefs import GuiPrefs, config_layer
    from faceapp.gui.settings_dialog import ENCRYPTION_TEXT, SettingsDialog

    dialog = SettingsDialog(GuiPrefs(), encryption="not encrypted")
    qtbot.addWidget(dialog)
    assert dialog.retention.value() == 0 and dialog.retention.text() == "forever"
    assert dialog.encryption.text() == ENCRYPTION_TEXT["not encrypted"] and "faceapp db encrypt" in dialog.encryption.text()
    dialog.retention.setValue(30)
    prefs = dialog.prefs()
    assert prefs.retention_days == 30 and config_layer(prefs)["retention_days"] == 30
    assert SettingsDialog(replace(prefs), encryption="encrypted").retention.value() == 30


def test_the_window_state_purges_at_open_and_when_the_period_is_shortened(qtbot, tmp_path: Path) -> None:
    from faceapp.app import Database, resolve_config
    from faceapp.gui.state import RETENTION_CHECK_MS, AppState
    from faceapp.gui.worker import VideoWorker

    config = resolve_config(flags={"db": str(tmp_path / "w.db"), "retention_days": 0}, environ={})
    with Database.open(config.db, create=True) as db:
        for days in (100, 40, 10):
            db.log_event("identify", decision="unknown", distance=1.2, source=f"{days} days ago")
        conn = db.store.db.conn
        for event_id, days in zip((1, 2, 3), (100, 40, 10)):
            at = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="milliseconds")
            conn.execute("UPDATE events SET at = ? WHERE id = ?", (at, event_id))
    state = AppState(replace(config, retention_days=60), VideoWorker(config))
    try:
        assert state.retention_timer.isActive() and state.retention_timer.interval() == RETENTION_CHECK_MS
        assert state.open_database()
        assert [e["source"] for e in state.events()] == ["10 days ago", "40 days ago"]  # purged at open
        with qtbot.waitSignal(state.events_changed):
            state.set_config(replace(state.config, retention_days=30))  # the settings dialog's new period
        assert [e["source"] for e in state.events()] == ["10 days ago"]
        state.set_config(replace(state.config, retention_days=0))
        assert state.purge_expired() == 0
    finally:
        state.close_database()


def test_the_settings_encrypt_the_database_the_window_has_open(qtbot, tmp_path: Path, shipped_model_card: Path) -> None:
    from PySide6.QtCore import QSettings

    from faceapp.app import Database, resolve_config
    from faceapp.gui.main_window import MainWindow
    from faceapp.gui.settings_dialog import ENCRYPTION_TEXT

    config = resolve_config(flags={"db": str(tmp_path / "w.db"), "model_path": shipped_model_card, "device": "cpu"},
                            environ={"FACEAPP_DB_KEY": KEY})  # a machine without a keyring
    with Database.open(config.db, create=True) as db:
        db.log_event("identify", decision="unknown", distance=1.2, source="door")
    window = MainWindow(config, qsettings=QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat),
                        list_cameras_fn=lambda: [])
    qtbot.addWidget(window)
    try:
        dialog = window.open_settings()
        assert not dialog.encrypt_button.isHidden()
        dialog.encrypt_button.click()
        assert dialog.encryption.text() == ENCRYPTION_TEXT["encrypted"] and dialog.encrypt_button.isHidden()
        assert not Path(config.db).read_bytes().startswith(b"SQLite format 3")
        assert window.state.db is not None and [e["source"] for e in window.state.events()] == ["door"]
        dialog.reject()
        assert window.open_settings().encrypt_button.isHidden()
    finally:
        window.close()
