"""Face data at rest in the SQLite store: erasure that leaves no byte behind (read back from the
raw files), the retention purge, SQLCipher encryption and conversion, and bad files and keys.

Every check reads the real files: the database and its -wal, scanned byte by byte for the
name, encoding bytes and face crop of the person who should be gone.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.errors import StoreError
from faceapp.images import encode_lossless, load_image
from faceapp.storage import open_store
from faceapp.storage.crypto import BlobAuthenticationError, BlobCipher, derive_key, new_salt
from faceapp.storage.sqlite_crypto import SQLITE_HEADER, DatabaseKeyError, convert, new_raw_key

from .conftest import MODEL, encodings, sqlite_snapshot

pytest.importorskip("sqlcipher3", reason="SQLCipher (sqlcipher3-binary) is not installed")

KEY = "x'" + "5a" * 32 + "'"  # a raw key: no passphrase derivation at each open
NAME = "Zebedee Quixotic-Vance"  # found nowhere else in a database by chance
OTHER = "Philippa Underhill"


def face_crops(repo_faces, count: int, offset: int = 0, mirrored: bool = False) -> list[bytes]:
    """Lossless WebP 112x112 face crops of in-repo photos, as enrollment keeps them; ``mirrored``
    ones are found in no other crop (the fillers around them use the photos as they are)."""
    photos = [*repo_faces.e, *(p for ps in repo_faces.others.values() for p in ps)]
    crops = [cv2.resize(load_image(p), (112, 112)) for p in photos[offset : offset + count]]
    return [encode_lossless(crop[:, ::-1].copy() if mirrored else crop) for crop in crops]


def files_of(db: Path) -> dict[str, bytes]:
    """The raw bytes of the database file and of its -wal and -shm, where they exist."""
    return {p.name: p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()}


def traces(db: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which of ``needles`` (what -> bytes) occur in which of the database's files."""
    found: dict[str, list[str]] = {}
    for file_name, data in files_of(db).items():
        for what, needle in needles.items():
            if needle in data:
                found.setdefault(what, []).append(file_name)
    return found


def needles_of(name: str, rows: np.ndarray, crops: list[bytes]) -> dict[str, bytes]:
    """What must not survive of a person: their name (as stored, and as the lower-case key), each
    encoding's bytes and a stretch from the middle of each crop (the whole crop spans pages)."""
    found = {"name": name.encode(), "name key": name.lower().encode()}
    found |= {f"encoding {i}": row.astype("<f4").tobytes()[64:192] for i, row in enumerate(rows)}
    found |= {f"crop {i}": crop[len(crop) // 2 : len(crop) // 2 + 64] for i, crop in enumerate(crops)}
    return found


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "faceapp.db"


def fill(store, repo_faces, people: int, start: int) -> None:
    """People around the one a test erases, so theirs are pages among others, not the file's end."""
    for i in range(people):
        store.enroll(f"Filler {start + i:03d}", encodings(2, seed=100 + start + i), MODEL,
                     crops=face_crops(repo_faces, 2, offset=(start + i) % 10), sources=[f"/photos/filler-{start + i}.jpg"] * 2)


# -- erasure -------------------------------------------------------------------------------------


def test_deleting_a_person_leaves_no_byte_of_their_name_encodings_or_crops(db_path: Path, repo_faces) -> None:
    rows, crops = encodings(3, seed=7), face_crops(repo_faces, 3, mirrored=True)
    needles = needles_of(NAME, rows, crops)
    store = open_store(db_path)
    try:
        fill(store, repo_faces, 6, 0)
        store.enroll(NAME, rows, MODEL, crops=crops, sources=["/photos/zebedee/1.jpg"] * 3, thumbnail=crops[0])
        store.enroll(OTHER, encodings(1, seed=8), MODEL, crops=face_crops(repo_faces, 1, offset=5))
        store.log_event("verify", name=NAME, decision="accepted", distance=0.3, source="door")
        store.rename(NAME, NAME.upper())  # the name as it was before a rename must go too
        fill(store, repo_faces, 6, 6)
        assert set(traces(db_path, needles)) == set(needles)  # the scan does find them while they are there
        assert store.delete(NAME) == 3
        assert traces(db_path, needles) == {}  # the file and its WAL, while the store is still open
        assert traces(db_path, {"other": OTHER.encode()})  # what was not deleted is still readable
        assert store.person(OTHER).templates == 1
    finally:
        store.close()
    assert traces(db_path, needles) == {}


def test_removing_a_template_leaves_no_byte_of_its_crop_or_encoding(db_path: Path, repo_faces) -> None:
    rows, crops = encodings(2, seed=3), face_crops(repo_faces, 2, offset=2, mirrored=True)
    with open_store(db_path) as store:
        fill(store, repo_faces, 3, 0)
        store.enroll(NAME, rows, MODEL, crops=crops, qualities=[0.9, 0.2])
        fill(store, repo_faces, 3, 3)
        removed = store.templates(NAME)[0].id  # the better one, also the thumbnail's source
        gone = needles_of(NAME, rows[:1], crops[:1])
        del gone["name"], gone["name key"]
        assert set(traces(db_path, gone)) == set(gone)
        assert store.delete_template(NAME, removed) == 1
        assert traces(db_path, gone) == {}
        assert store.template_crop(NAME, store.templates(NAME)[0].id) == crops[1]


def set_event_times(db_path: Path, times: list[str]) -> None:
    """Give the events, in id order, these logged-at times (another program's connection)."""
    conn = sqlite3.connect(db_path)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
        conn.executemany("UPDATE events SET at = ? WHERE id = ?", list(zip(times, ids)))
        conn.commit()
    finally:
        conn.close()


def test_the_retention_purge_erases_exactly_the_events_older_than_the_cutoff(db_path: Path) -> None:
    cutoff = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    times = [cutoff - timedelta(days=40), cutoff - timedelta(milliseconds=1), cutoff, cutoff + timedelta(days=1)]
    with open_store(db_path) as store:
        for i in range(4):
            store.log_event("identify", decision="unknown", distance=1.2, source=f"camera-{i}-seen-at-the-door")
    set_event_times(db_path, [t.isoformat(timespec="milliseconds") for t in times])
    with open_store(db_path) as store:
        assert store.purge_events(cutoff) == 2
        assert sorted(e["source"] for e in store.events()) == ["camera-2-seen-at-the-door", "camera-3-seen-at-the-door"]
        assert store.purge_events(cutoff.astimezone(timezone(timedelta(hours=5)))) == 0  # the same moment elsewhere
        assert store.purge_events(cutoff.replace(tzinfo=None) + timedelta(days=2)) == 2  # naive: UTC
        assert traces(db_path, {f"event {i}": f"camera-{i}-seen".encode() for i in range(4)}) == {}


# -- encryption ----------------------------------------------------------------------------------


def encrypted_db(db_path: Path, repo_faces, key: str = KEY) -> tuple[np.ndarray, list[bytes]]:
    rows, crops = encodings(2, seed=11), face_crops(repo_faces, 2)
    with open_store(db_path) as store:
        store.enroll(NAME, rows, MODEL, crops=crops, thumbnail=crops[0], sources=["/photos/zebedee/1.jpg"] * 2)
        store.log_event("verify", name=NAME, decision="accepted", distance=0.3, source="door")
    convert(db_path, key_from=None, key_to=key)
    return rows, crops


def test_an_encrypted_database_has_no_sqlite_header_and_no_plain_name_encoding_or_crop(
        db_path: Path, repo_faces) -> None:
    rows, crops = encrypted_db(db_path, repo_faces)
    needles = needles_of(NAME, rows, crops)
    assert db_path.read_bytes()[:16] != SQLITE_HEADER
    assert traces(db_path, needles) == {}
    with open_store(db_path, key=KEY) as store:  # the right key opens it, and what it writes is encrypted too
        assert store.person(NAME).templates == 2 and store.template_crop(NAME, 1) == crops[0]
        store.enroll(OTHER, encodings(1, seed=5), MODEL)
        assert Path(f"{db_path}-wal").exists()
        assert traces(db_path, {**needles, "other": OTHER.encode()}) == {}
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        sqlite_snapshot(db_path)  # plain SQLite cannot read a byte of it


def test_encrypt_then_decrypt_round_trips_every_row(db_path: Path, repo_faces) -> None:
    with open_store(db_path) as store:
        store.enroll(NAME, encodings(2, seed=1), MODEL, crops=face_crops(repo_faces, 2), thumbnail=b"\x89PNG thumb",
                     sources=["a.jpg", None], qualities=[0.7, 0.4])
        store.enroll(OTHER, encodings(1, seed=2), "older-model")
        store.log_event("identify", decision="unknown", distance=float("inf"), source="cam")
        store.remember_unknown(MODEL, encodings(1, seed=3)[0], crop=face_crops(repo_faces, 1)[0], source="cam")
    before = sqlite_snapshot(db_path)
    assert len(before["unknown_sightings"]) == 1  # counted and checked like every other table
    mode = db_path.stat().st_mode
    assert convert(db_path, key_from=None, key_to=KEY) == {t: len(r) for t, r in before.items()}
    assert db_path.stat().st_mode == mode  # the permissions the file had
    assert not list(db_path.parent.glob("*.converting"))
    with pytest.raises(sqlite3.DatabaseError):
        sqlite_snapshot(db_path)
    convert(db_path, key_from=KEY, key_to=None)
    assert sqlite_snapshot(db_path) == before
    with open_store(db_path) as store:  # a faceapp database again, at its schema
        assert [p.name for p in store.people()] == [OTHER, NAME]


def test_opening_without_the_key_or_with_a_wrong_one_is_one_clear_line_and_changes_nothing(
        db_path: Path, repo_faces) -> None:
    encrypted_db(db_path, repo_faces)
    before = files_of(db_path)
    with pytest.raises(DatabaseKeyError) as no_key:
        open_store(db_path)
    assert str(db_path) in str(no_key.value) and "encrypted" in str(no_key.value)
    assert "FACEAPP_DB_KEY" in str(no_key.value) and "\n" not in str(no_key.value)
    for wrong in ("x'" + "00" * 32 + "'", "a passphrase"):
        with pytest.raises(DatabaseKeyError, match="the key is wrong") as bad:
            open_store(db_path, key=wrong)
        assert str(db_path) in str(bad.value)
    with pytest.raises(DatabaseKeyError, match="the key is wrong"):
        convert(db_path, key_from="x'" + "00" * 32 + "'", key_to=None)
    assert files_of(db_path) == before
    with open_store(db_path, key=KEY) as store:
        assert store.person(NAME).templates == 2


def test_a_passphrase_works_as_a_key(db_path: Path, repo_faces) -> None:
    encrypted_db(db_path, repo_faces, key="correct horse battery staple")
    with open_store(db_path, key="correct horse battery staple") as store:
        assert store.has_person(NAME)


@pytest.mark.parametrize("key", ["x'abc'", "x'" + "0" * 63 + "'", "X'" + "g" * 64 + "'"])
def test_a_raw_key_cut_short_or_mistyped_is_refused_before_any_file_is_made(tmp_path: Path, key: str) -> None:
    # SQLCipher would silently take it for a passphrase: the real raw key would never open the file.
    with pytest.raises(StoreError, match=r"looks like a raw key but is not x'<64 hex digits>'"):
        open_store(tmp_path / "new.db", key=key)
    assert list(tmp_path.iterdir()) == []


def test_a_new_database_given_a_key_is_encrypted_from_the_start_and_a_plain_one_stays_plain(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    with open_store(new, key=KEY) as store:
        store.enroll(NAME, encodings(1), MODEL)
    assert new.read_bytes()[:16] != SQLITE_HEADER and NAME.encode() not in new.read_bytes()
    plain = tmp_path / "plain.db"
    with open_store(plain) as store:
        store.enroll(NAME, encodings(1), MODEL)
    with open_store(plain, key=KEY) as store:  # a key in the environment never changes a plain file
        assert store.has_person(NAME)
    assert plain.read_bytes()[:16] == SQLITE_HEADER


def flipped(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x10]) + data[offset + 1 :]


def test_damaged_or_foreign_files_are_clear_errors_naming_the_file_and_stay_as_they_were(
        tmp_path: Path, repo_faces) -> None:
    good = tmp_path / "good.db"
    encrypted_db(good, repo_faces)
    data = good.read_bytes()
    cases = {
        "bit-flipped.db": (flipped(data, len(data) - 2000), KEY, "damaged or was altered"),
        "truncated.db": (data[: len(data) // 2 + 100], KEY, "damaged"),
        "first page flipped.db": (flipped(data, 100), KEY, "key is wrong, or the file is damaged"),
        "text.db": (b"just some notes, not a database\n", None, "not a faceapp database"),
        "patterned.db": (bytes(range(256)) * 32, None, "not a faceapp database"),  # sized like one, but no ciphertext
        "random.db": (np.random.default_rng(0).bytes(8192), None, "is encrypted \\(or is not a database at all\\)"),
    }
    for file_name, (content, key, message) in cases.items():
        path = tmp_path / file_name
        path.write_bytes(content)
        with pytest.raises(StoreError, match=message) as err:
            with open_store(path, create=False, key=key) as store:
                store.people()
        assert str(path) in str(err.value) and "\n" not in str(err.value), file_name
        assert path.read_bytes() == content, file_name
    with open_store(good, key=KEY) as store:  # the healthy copy beside them is untouched
        assert store.has_person(NAME)


def test_converting_a_database_another_process_has_open_is_refused_and_changes_nothing(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.enroll(NAME, encodings(1), MODEL)
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db_path)!r}); c.execute('SELECT COUNT(*) FROM people').fetchall()\n"
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="locked|in use") as err:
            convert(db_path, key_from=None, key_to=KEY, busy_timeout_ms=200)
        assert str(db_path) in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert not list(db_path.parent.glob("*.converting"))
    convert(db_path, key_from=None, key_to=KEY)  # once it is closed
    with open_store(db_path, key=KEY) as store:
        assert store.has_person(NAME)


# -- single blobs, for a server backend ------------------------------------------------------------


def test_a_sealed_blob_opens_only_with_its_key_and_context_and_any_change_fails_authentication(repo_faces) -> None:
    crop = face_crops(repo_faces, 1)[0]
    salt = new_salt()
    cipher = BlobCipher.from_key_text("a passphrase", salt)
    sealed = cipher.seal(crop, "templates.crop:42")
    assert crop[100:164] not in sealed and len(sealed) == len(crop) + 1 + 12 + 16
    assert cipher.open(sealed, "templates.crop:42") == crop
    assert cipher.seal(crop, "templates.crop:42") != sealed  # a fresh nonce each time
    assert BlobCipher.from_key_text("a passphrase", salt).open(sealed, "templates.crop:42") == crop
    failures = {
        "altered": (cipher, flipped(sealed, 40), "templates.crop:42"),
        "another row": (cipher, sealed, "templates.crop:43"),
        "wrong key": (BlobCipher.from_key_text("another passphrase", salt), sealed, "templates.crop:42"),
        "other salt": (BlobCipher.from_key_text("a passphrase", new_salt()), sealed, "templates.crop:42"),
        "cut short": (cipher, sealed[:20], "templates.crop:42"),
    }
    for what, (opener, blob, context) in failures.items():
        with pytest.raises(BlobAuthenticationError, match="postgresql://station/faces") as err:
            opener.open(blob, context, where="postgresql://station/faces")
        assert "\n" not in str(err.value), what
    raw = new_raw_key()
    assert derive_key(raw, b"") == bytes.fromhex(raw[2:-1])  # the keyring's raw keys are used as they are
    with pytest.raises(StoreError):
        derive_key("", salt)
