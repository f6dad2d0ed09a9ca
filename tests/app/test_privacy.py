"""The privacy use-cases on real SQLite files: the key from the configuration or the system keyring,
encrypting and decrypting the configured database, the retention period (at open, at most once
a day after), and a person's own data as a zip.

Encodings are random unit vectors and crops random pixels (lossless WebP, as enrollment keeps
them): these tests are about what is stored, erased and handed back, not about faces.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from faceapp.app import Database, resolve_config
from faceapp.app.config import ConfigError
from faceapp.app.enrollment import Shot, store_shots
from faceapp.app.person_export import export_person
from faceapp.app.privacy import (
    PrivacyError,
    decrypt_database,
    encrypt_database,
    encryption_state,
    keyring_key,
    open_database,
    parse_period,
    purge_if_due,
)
from faceapp.errors import StoreError, UnknownPersonError
from faceapp.images import decode_image

pytest.importorskip("sqlcipher3", reason="SQLCipher (sqlcipher3-binary) is not installed")

DIM = 128
MODEL = "faceapp-encoder-test"
KEY = "x'" + "3c" * 32 + "'"


def shot(seed: int) -> Shot:
    rng = np.random.default_rng(seed)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    encoding = rng.standard_normal(DIM).astype(np.float32)
    return Shot(crop, encoding / np.linalg.norm(encoding), 0.5 + seed / 100, f"/photos/{seed}.jpg")


@pytest.fixture
def config(tmp_path: Path):
    """The configuration of a database under tmp_path, resolved as the entry points do it."""
    return resolve_config(flags={"db": str(tmp_path / "faces.db")}, environ={})


def with_people(config) -> None:
    with Database.open(config.db, create=True) as db:
        store_shots(db, "Ada Lovelace", [shot(1), shot(2)], MODEL)
        store_shots(db, "Charles Babbage", [shot(3)], MODEL)
        db.log_event("verify", name="Ada Lovelace", decision="accepted", distance=0.4, source="door")


def set_event_times(db: Database, times: list[datetime]) -> None:
    """Back-date the events, in id order (the store's own connection: the same file)."""
    conn = db.store.db.conn
    ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    conn.executemany("UPDATE events SET at = ? WHERE id = ?",
                     [(t.isoformat(timespec="milliseconds"), i) for t, i in zip(times, ids)])


def test_the_key_and_retention_period_come_from_the_environment(tmp_path: Path) -> None:
    config = resolve_config(flags={"db": str(tmp_path / "f.db")},
                            environ={"FACEAPP_DB_KEY": KEY, "FACEAPP_RETENTION_DAYS": "30"})
    assert (config.db_key, config.retention_days) == (KEY, 30)
    assert KEY not in repr(config)  # never in a log line or traceback
    with pytest.raises(ConfigError, match="FACEAPP_RETENTION_DAYS"):
        resolve_config(environ={"FACEAPP_RETENTION_DAYS": "a month"})


def test_encrypt_and_decrypt_the_configured_database_with_the_key_from_the_environment(config) -> None:
    with_people(config)
    keyed = replace(config, db_key=KEY)
    assert encryption_state(config) == "not encrypted"
    done = encrypt_database(keyed)
    assert done.rows == {"people": 2, "templates": 3, "events": 3, "unknown_groups": 0, "unknown_sightings": 0}
    assert done.key_in == "FACEAPP_DB_KEY"
    assert encryption_state(config) == "encrypted"
    with pytest.raises(PrivacyError, match="encrypted already"):
        encrypt_database(keyed)
    with pytest.raises(StoreError, match="is encrypted") as err:
        open_database(config)  # no key here, and (on CI) no keyring holding one
    assert str(config.db_path) in str(err.value)
    with open_database(keyed) as db:
        assert [p.name for p in db.people()] == ["Ada Lovelace", "Charles Babbage"]
    with pytest.raises(StoreError, match="the key is wrong"):
        decrypt_database(replace(config, db_key="x'" + "00" * 32 + "'"))
    assert decrypt_database(keyed).rows == done.rows
    assert encryption_state(config) == "not encrypted"
    with pytest.raises(PrivacyError, match="not encrypted"):
        decrypt_database(keyed)


def secure_keyring() -> bool:
    keyring = pytest.importorskip("keyring")
    return getattr(keyring.get_keyring(), "priority", 0) >= 1


def test_without_a_key_encrypting_needs_a_system_keyring_and_changes_nothing_without_one(config) -> None:
    if secure_keyring():
        pytest.skip("this machine has a system keyring: the test would leave a key in it")
    with_people(config)
    before = config.db_path.read_bytes()
    with pytest.raises(PrivacyError, match="no system keyring .* set FACEAPP_DB_KEY"):
        encrypt_database(config)
    assert config.db_path.read_bytes() == before and keyring_key(config.db_path) is None


def test_the_system_keyring_keeps_the_key_encrypt_makes(config) -> None:
    if not secure_keyring():
        pytest.skip("no system keyring on this machine (Secret Service, Keychain or Credential Locker)")
    with_people(config)
    done = encrypt_database(config)
    try:
        assert done.key_in == "keyring" and keyring_key(config.db_path)
        with open_database(config) as db:  # the key found in the keyring, no environment needed
            assert db.has_person("Ada Lovelace")
    finally:
        decrypt_database(config)
    assert keyring_key(config.db_path) is None  # forgotten once the file is plain again


def test_retention_purges_exactly_the_older_events_at_open_then_at_most_once_a_day(config) -> None:
    with_people(config)
    now = datetime.now(timezone.utc)
    with Database.open(config.db) as db:
        set_event_times(db, [now - timedelta(days=40), now - timedelta(days=31), now - timedelta(days=29)])
    kept = replace(config, retention_days=30)
    with open_database(kept) as db:  # opening purges
        assert [e["at"][:10] for e in db.events()] == [(now - timedelta(days=29)).isoformat()[:10]]
        assert db.last_purge is not None
        db.log_event("identify", decision="unknown", distance=1.3, source="cam")
        set_event_times(db, [now - timedelta(days=20), now - timedelta(days=31)])  # the new one back-dated
        assert purge_if_due(db, now + timedelta(hours=23)) == 0  # not a day since the last purge
        assert len(db.events()) == 2
        assert purge_if_due(db, db.last_purge + timedelta(days=1)) == 1
        assert len(db.events()) == 1
    with open_database(config) as db:  # retention_days 0: nothing is ever purged
        set_event_times(db, [now - timedelta(days=4000)])
    with open_database(config) as db:
        assert len(db.events()) == 1


def test_a_long_run_purges_when_it_logs_an_event_a_day_after_the_last_purge(config) -> None:
    with_people(config)
    with open_database(replace(config, retention_days=7)) as db:
        db.last_purge = datetime.now(timezone.utc) - timedelta(days=1, minutes=1)
        set_event_times(db, [datetime.now(timezone.utc) - timedelta(days=8)] * 3)
        db.log_event("identify", decision="unknown", distance=1.3, source="cam")  # what identify does per sighting
        assert [e["kind"] for e in db.events()] == ["identify"]


def test_parse_period_reads_days_hours_and_weeks() -> None:
    assert parse_period("30d") == timedelta(days=30)
    assert parse_period(" 12H ") == timedelta(hours=12)
    assert parse_period("2w") == timedelta(weeks=2)
    for bad in ("30", "d", "-3d", "1.5d", "30 days", ""):
        with pytest.raises(PrivacyError, match="30d"):
            parse_period(bad)


def test_export_hands_back_everything_about_one_person_and_nothing_about_others(config, tmp_path: Path) -> None:
    with_people(config)
    out = tmp_path / "ada.zip"
    with open_database(config) as db:
        db.remove_template("Ada Lovelace", db.templates("Ada Lovelace")[0].id)
        store_shots(db, "Ada Lovelace", [shot(4)], MODEL, keep_crops=False)
        done = export_person(db, "ada lovelace", out)
        crops = {t.id: db.template_crop("Ada Lovelace", t.id) for t in db.templates("Ada Lovelace")}
        thumbnail = db.thumbnail("Ada Lovelace")
    assert (done.name, done.templates, done.crops, done.events) == ("Ada Lovelace", 2, 1, 3)
    assert out.stat().st_mode & 0o077 == 0  # face data: the owner's only
    with zipfile.ZipFile(out) as archive:
        record = json.loads(archive.read("person.json"))
        files = {name: archive.read(name) for name in archive.namelist()}
    assert record["name"] == "Ada Lovelace"
    assert [t["source"] for t in record["templates"]] == ["/photos/2.jpg", "/photos/4.jpg"]
    for template in record["templates"]:
        crop = crops[template["id"]]
        assert (template["crop"] is None) == (crop is None)
        if crop is not None:
            assert files[template["crop"]] == crop and decode_image(crop).shape == (112, 112, 3)
    assert files[record["thumbnail"]] == thumbnail
    assert sorted(e["kind"] for e in record["events"]) == ["enroll", "enroll", "verify"]
    assert "Charles Babbage" not in json.dumps(record) and len(files) == 3
    with open_database(config) as db:
        with pytest.raises(PrivacyError, match="already exists"):
            export_person(db, "Ada Lovelace", out)  # never over a file
        with pytest.raises(UnknownPersonError):
            export_person(db, "Nobody", tmp_path / "nobody.zip")
    assert not (tmp_path / "nobody.zip").exists() and not list(tmp_path.glob("*.partial"))
