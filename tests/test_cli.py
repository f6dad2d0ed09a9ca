"""Specification of the ``faceapp`` command line, driven through ``faceapp.cli.main``.

Everything is real: the in-repo face photos (tests/data/faces) copied into tmp_path, a SQLite
file per test, the shipped YuNet detector and the shipped encoder. Distances and thresholds are never written here: the people
the tests enroll are chosen by the library pipeline itself at the card's threshold (the CLI
must then agree with it), and numbers are read from the model card.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.cli import main
from faceapp.embed import read_card
from faceapp.images import load_image
from faceapp.storage import SqliteStore as Store

from conftest import RepoFaces, lfw_name, repo_pairs, write_pairs_file, write_video

REPO_ROOT = Path(__file__).resolve().parents[1]
# FACEAPP_TEST_MODEL runs these tests against another model card (e.g. a candidate being trained).


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def card(shipped_model_card: Path):
    return read_card(shipped_model_card)


@pytest.fixture(scope="session")
def library(yunet_model_path: Path, shipped_model_card: Path):
    """The library pipeline, used to choose test people and to check the CLI against."""
    from faceapp.detect import YuNetDetector
    from faceapp.embed import load_encoder
    from faceapp.pipeline import Pipeline

    return Pipeline(YuNetDetector(yunet_model_path), load_encoder(shipped_model_card, device="cpu"))


def count_faces(library, path: Path) -> int:
    """Faces in a photo by the rule enroll/import apply (the padded retry included)."""
    return len(library.find_faces(load_image(path), still=True))


def enrollable(library, path: Path) -> bool:
    """One face, good enough to enroll (``faceapp.decide.JudgeLimits``): the doorway faces are not."""
    from faceapp.decide import JudgeLimits

    return count_faces(library, path) == 1 and not JudgeLimits().problems(library.encode_one(load_image(path)).quality)


@dataclass(frozen=True)
class ImportPerson:
    name: str
    photos: tuple[Path, ...]  # all of the folder's photos
    usable: int  # how many show exactly one face good enough to enroll


E_IMPORT_FOLDERS = 5  # E's photos split into this many folders; each doorway person is one more


@pytest.fixture(scope="session")
def import_people(repo_faces: RepoFaces, library) -> list[ImportPerson]:
    """Eight folders of at least 3 in-repo photos to import, one person's photos each: E's
    photos split into five (Person_E_1 ... Person_E_5; import does not check whether two folders
    show the same person, and eight folders give a killed import room to die between the first
    and the last), then Doorway_1 ... Doorway_3. Sorted as import takes them."""
    folders = {f"Person_E_{i + 1}": repo_faces.e[i::E_IMPORT_FOLDERS] for i in range(E_IMPORT_FOLDERS)}
    folders |= {lfw_name(name): photos for name, photos in repo_faces.others.items()}
    people = [ImportPerson(name, tuple(photos), sum(enrollable(library, p) for p in photos))
              for name, photos in sorted(folders.items())]
    assert len(people) == 8 and all(len(p.photos) >= 3 and (p.usable >= 2 or "Doorway" in p.name) for p in people)
    return people


@dataclass(frozen=True)
class Cast:
    name: str
    enroll: tuple[Path, Path]  # two photos to enroll from
    probe: Path  # a third photo the model accepts as them at the card's threshold
    stranger: Path  # someone else's photo the model rejects


@pytest.fixture(scope="session")
def cast(repo_faces: RepoFaces, library) -> Cast:
    """Person E with 2 single-face photos of one clip to enroll from, a photo of the other clip
    the model recognises as him from those two, and a doorway stranger it does not take for him;
    checked by the library, per model. Every photo is 144x144, so two fit side by side."""
    return _choose_cast(repo_faces, library)


def _choose_cast(repo_faces: RepoFaces, library) -> Cast:
    from faceapp.match import distances

    threshold = library.encoder.card.default_threshold

    def encoding(photo: Path) -> np.ndarray:
        return library.encode_one(load_image(photo)).encoding

    enroll = [p for p in repo_faces.hungry if count_faces(library, p) == 1
              and library.encode_one(load_image(p)).quality.ok][:2]
    if len(enroll) == 2:
        gallery = np.stack([encoding(p) for p in enroll])
        everyone = np.stack([encoding(p) for p in repo_faces.e if count_faces(library, p) == 1])
        for probe in (p for p in repo_faces.want if count_faces(library, p) == 1):
            if distances(encoding(probe), gallery).min() <= threshold:
                for stranger in (p for photos in repo_faces.others.values() for p in photos):
                    if count_faces(library, stranger) == 1 and distances(encoding(stranger), everyone).min() > threshold:
                        return Cast("Person E", (enroll[0], enroll[1]), probe, stranger)
    pytest.fail(f"the model ({library.model_id}) does not recognise person E across the in-repo clips "
                f"at its threshold {threshold}, or takes every doorway person for him")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shipped detector, found as on a user's first launch, and defaults that can never
    reach the user's real database."""
    monkeypatch.delenv("FACEAPP_DETECTOR_MODEL", raising=False)
    monkeypatch.setenv("FACEAPP_DB", str(tmp_path / "default-never-used.db"))
    monkeypatch.delenv("FACEAPP_MODEL", raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "faceapp.db"


@pytest.fixture
def cli(db: Path, shipped_model_card: Path, capsys: pytest.CaptureFixture):
    """``cli(*args)`` runs ``faceapp --db DB --model CARD *args`` and returns code, stdout, stderr."""

    def run(*args: object, db_path: Path = db) -> Result:
        code = main(["--db", str(db_path), "--model", str(shipped_model_card), *(str(a) for a in args)])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(scope="session")
def enrolled_template(cast: Cast, shipped_model_card: Path, yunet_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the cast's person enrolled (by the CLI) from their two photos; made once."""
    path = tmp_path_factory.mktemp("enrolled") / "faceapp.db"
    args = ["--db", str(path), "--model", str(shipped_model_card), "--detector-model", str(yunet_model_path)]
    assert main([*args, "enroll", cast.name, *map(str, cast.enroll)]) == 0
    return path


@pytest.fixture
def enrolled(db: Path, cast: Cast, enrolled_template: Path) -> Cast:
    """The cast's person enrolled from their two photos, in this test's database."""
    shutil.copy(enrolled_template, db)  # closed cleanly, so the WAL is checkpointed into it
    return cast


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, read by an independent connection."""
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("people", "templates", "events")}
    finally:
        conn.close()


def random_unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_db(path: Path, people: dict[str, int], model_id: str, dim: int) -> None:
    """A database with these people and template counts, written through the store (no model)."""
    with Store.open(path) as store:
        for i, (name, n) in enumerate(people.items()):
            store.enroll(name, random_unit(n, dim, seed=i), model_id)


def blank_png(path: Path) -> Path:
    assert cv2.imwrite(str(path), np.full((200, 200, 3), 127, np.uint8))
    return path


# -- enroll ----------------------------------------------------------------------------------------


def test_enroll_writes_one_template_per_photo_with_source_quality_and_thumbnail(cli, db: Path, cast: Cast, card) -> None:
    result = cli("enroll", cast.name, *cast.enroll)
    assert result.code == 0, result.err
    assert cast.name in result.out and "2 templates" in result.out

    with Store.open(db) as store:
        person = store.person(cast.name)
        assert person.templates == 2
        rows = store.db.execute("SELECT model_id, dim, source, quality FROM templates ORDER BY id").fetchall()
        assert [r[0] for r in rows] == [card.model_id] * 2
        assert [r[1] for r in rows] == [card.dim] * 2
        assert [r[2] for r in rows] == [str(p.resolve()) for p in cast.enroll]
        assert all(0 < r[3] <= 1 for r in rows)
        thumbnail = store.thumbnail(cast.name)
    assert thumbnail is not None and thumbnail[:2] == b"\xff\xd8"
    crop = cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (112, 112, 3)  # the aligned face, not the whole photo


def test_enroll_accepts_a_folder_of_photos(cli, db: Path, cast: Cast, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in cast.enroll:
        shutil.copy(photo, folder / photo.name)
    result = cli("enroll", "Folder Person", folder)
    assert result.code == 0, result.err
    with Store.open(db) as store:
        assert store.person("Folder Person").templates == 2


def test_people_list_shows_names_counts_and_creation_time(cli, enrolled: Cast) -> None:
    listing = cli("people", "list", "--json")
    assert listing.code == 0
    (entry,) = json.loads(listing.out)
    assert entry["name"] == enrolled.name and entry["templates"] == 2 and entry["created"].startswith("20")
    table = cli("people", "list")
    assert table.code == 0
    assert enrolled.name in table.out and "2" in table.out


@pytest.mark.parametrize("problem", ["no face", "two faces", "corrupt", "missing"])
def test_a_failed_enroll_names_the_file_and_leaves_the_database_unchanged(
    cli, db: Path, enrolled: Cast, tmp_path: Path, problem: str
) -> None:
    if problem == "no face":
        bad, expected = blank_png(tmp_path / "blank.png"), "no face"
    elif problem == "two faces":
        two = np.hstack([load_image(enrolled.enroll[0]), load_image(enrolled.stranger)])
        bad, expected = tmp_path / "two.png", "2 faces"
        assert cv2.imwrite(str(bad), cv2.cvtColor(two, cv2.COLOR_RGB2BGR))
    elif problem == "corrupt":
        bad, expected = tmp_path / "corrupt.jpg", "not a readable image"
        bad.write_bytes(enrolled.probe.read_bytes()[:300])
    else:
        bad, expected = tmp_path / "nowhere.jpg", "no such file"
    before = snapshot(db)

    # The bad photo comes after a good one: nothing may be written for either.
    result = cli("enroll", enrolled.name, enrolled.probe, bad)
    assert result.code == 2
    assert result.out == ""
    assert str(bad) in result.err and expected in result.err
    assert result.err.startswith("faceapp: error: ")
    assert snapshot(db) == before

    result = cli("enroll", "Somebody New", bad)
    assert result.code == 2
    assert snapshot(db) == before
    if problem == "two faces":  # --largest takes the biggest face instead
        assert cli("enroll", "Somebody New", bad, "--largest").code == 0


def test_enroll_lists_every_unusable_photo_before_refusing(cli, db: Path, enrolled: Cast, tmp_path: Path) -> None:
    before = snapshot(db)
    blank = blank_png(tmp_path / "blank.png")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    result = cli("enroll", "Somebody New", enrolled.probe, blank, text)
    assert result.code == 2
    assert str(blank) in result.err and str(text) in result.err
    assert "2 of 3 images" in result.err and "nothing was enrolled" in result.err
    assert snapshot(db) == before


@pytest.mark.parametrize("name", ["", "   ", "Bob\x07", "Line\nBreak", "Tab\tbed", "!!!"])
def test_odd_names_are_refused_before_anything_is_written(cli, db: Path, cast: Cast, name: str) -> None:
    result = cli("enroll", name, cast.enroll[0])
    assert result.code == 2
    assert result.err.startswith("faceapp: error: ") and result.err.count("\n") == 1
    assert not db.exists()


def test_enroll_warns_when_the_face_is_already_someone_else(cli, db: Path, enrolled: Cast) -> None:
    result = cli("enroll", "Another Name", enrolled.probe)
    assert result.code == 0
    assert "warning" in result.err and enrolled.name in result.err
    with Store.open(db) as store:
        assert store.person("Another Name").templates == 1


def test_enrolling_more_photos_adds_to_the_same_person_without_a_warning(cli, db: Path, enrolled: Cast) -> None:
    result = cli("enroll", enrolled.name, enrolled.probe)
    assert result.code == 0
    assert "warning" not in result.err
    with Store.open(db) as store:
        assert [(p.name, p.templates) for p in store.people()] == [(enrolled.name, 3)]


def test_enrolling_a_photo_again_adds_no_second_copy_of_its_template(cli, db: Path, enrolled: Cast,
                                                                       tmp_path: Path) -> None:
    copy = tmp_path / "renamed copy.jpg"  # another name, the same pixels
    shutil.copy(enrolled.enroll[0], copy)
    result = cli("enroll", enrolled.name, copy)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "the very face of a template already there" in result.err and "nothing was enrolled" in result.err
    with Store.open(db) as store:
        assert [(p.name, p.templates) for p in store.people()] == [(enrolled.name, 2)]


def test_enroll_from_a_camera_takes_good_shots_frames_apart(cli, db: Path, cast: Cast, tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", [*cast.enroll, cast.probe], repeats=4)
    result = cli("enroll", cast.name, "--camera", video, "--shots", 3)
    assert result.code == 0, result.err
    with Store.open(db) as store:
        sources = [r[0] for r in store.db.execute("SELECT source FROM templates ORDER BY id")]
    assert len(sources) == 3
    frames = [int(s.rsplit("frame ", 1)[1]) for s in sources]
    assert all(b - a >= 3 for a, b in zip(frames, frames[1:]))
    assert all("cam.avi" in s for s in sources)


def test_enroll_from_a_camera_gives_up_when_no_good_face_appears(cli, db: Path, tmp_path: Path, cast: Cast) -> None:
    video = write_video(tmp_path / "empty.avi", [np.full((240, 320, 3), 90, np.uint8)], repeats=20)
    result = cli("enroll", cast.name, "--camera", video, "--shots", 2)
    assert result.code == 2
    assert "it ended after 20 frames with 0 of 2 good shots" in result.err and "no face" in result.err
    assert not db.exists() or snapshot(db)["people"] == []


def test_options_may_come_between_positionals(cli, db: Path, enrolled: Cast, tmp_path: Path) -> None:
    result = cli("verify", enrolled.name, "--json", enrolled.probe)
    assert result.code == 0, result.err
    assert json.loads(result.out)["accepted"] is True

    two = np.hstack([load_image(enrolled.enroll[0]), load_image(enrolled.stranger)])
    group = tmp_path / "two.png"
    assert cv2.imwrite(str(group), cv2.cvtColor(two, cv2.COLOR_RGB2BGR))
    result = cli("enroll", "Somebody New", enrolled.probe, "--largest", group)  # nargs="*" split by an option
    assert result.code == 0, result.err
    assert "2 templates" in result.out

    result = cli("identify", "--max-frames", 1, enrolled.probe, "--json")
    assert result.code == 0 and len(result.json_lines()) == 1
    result = cli("people", "rename", "Somebody New", "--db", db, "Someone Else")  # nested subcommand
    assert result.code == 0, result.err
    assert cli("people", "delete", "Someone Else", "--db", db, "--yes").code == 0
    assert [p.name for p in json_people(cli)] == [enrolled.name]


# -- identify ----------------------------------------------------------------------------------------


def test_identify_names_an_enrolled_person_and_nobody_for_a_stranger(cli, db: Path, enrolled: Cast, card) -> None:
    result = cli("identify", enrolled.probe, "--json")
    assert result.code == 0, result.err
    (line,) = result.json_lines()
    assert line["path"] == str(enrolled.probe)
    (face,) = line["faces"]
    assert face["name"] == enrolled.name
    assert 0 <= face["distance"] <= card.default_threshold
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])

    result = cli("identify", enrolled.stranger, "--json")
    assert result.code == 0
    (face,) = result.json_lines()[0]["faces"]
    assert face["name"] is None and face["distance"] > card.default_threshold

    with Store.open(db) as store:
        decisions = [(e["kind"], e["name"], e["decision"]) for e in store.events(limit=2)]
    assert decisions == [("identify", None, "unknown"), ("identify", enrolled.name, "recognised")]


def test_identify_prints_a_readable_table_without_json(cli, enrolled: Cast) -> None:
    result = cli("identify", enrolled.probe)
    assert result.code == 0
    assert enrolled.name in result.out and str(enrolled.probe) in result.out
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.out.splitlines()[0])


def test_identify_a_folder_reports_an_unreadable_image_and_carries_on(cli, enrolled: Cast, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(enrolled.probe, folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    shutil.copy(enrolled.stranger, folder / "c.jpg")
    result = cli("identify", folder, "--json")
    assert result.code == 2
    a, b, c = result.json_lines()
    assert a["path"].endswith("a.jpg") and a["faces"][0]["name"] == enrolled.name
    assert b["path"].endswith("b.jpg") and "b.jpg" in b["error"] and "faces" not in b
    assert c["path"].endswith("c.jpg") and c["faces"][0]["name"] is None
    assert "b.jpg" in result.err
    plain = cli("identify", folder).out.splitlines()
    assert f"{folder / 'b.jpg'}: error: not a readable image" in plain[2], plain  # the path once, not twice


def test_identify_a_video_prints_one_json_line_per_frame(cli, face_video: Path, face_video_photos: list[Path]) -> None:
    first = face_video_photos[0]  # the photo of frames 0-2
    assert cli("enroll", "Person E", first).code == 0
    result = cli("identify", face_video, "--json")
    assert result.code == 0, result.err
    lines = result.json_lines()
    assert [line["frame"] for line in lines] == list(range(12))
    for line in lines:
        assert set(line) == {"frame", "faces"}
        for face in line["faces"]:
            assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
            assert face["name"] is None or isinstance(face["name"], str)
    for line in lines[:3]:  # the enrolled photo itself, letterboxed into the video
        assert "Person E" in [face["name"] for face in line["faces"]]


def test_max_frames_limits_every_frame_source_and_must_not_be_negative(
    cli, enrolled: Cast, tmp_path: Path, face_video: Path
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, photo in enumerate([*enrolled.enroll, enrolled.probe, enrolled.stranger]):
        shutil.copy(photo, folder / f"f{i:03d}.jpg")

    for source in (("--camera", folder), (folder,), ("--camera", face_video), (face_video,)):
        result = cli("identify", *source, "--json", "--max-frames", 2)
        assert result.code == 0, (source, result.err)
        assert len(result.json_lines()) == 2, source
    unlimited = cli("identify", "--camera", folder, "--json", "--max-frames", 0)
    assert unlimited.code == 0 and len(unlimited.json_lines()) == 4

    result = cli("identify", "--camera", folder, "--max-frames", -1)
    assert result.code == 2 and result.out == ""
    assert "--max-frames: must be 0 (no limit) or more, got -1" in result.err


def test_identify_needs_an_existing_database(cli, cast: Cast, db: Path) -> None:
    result = cli("identify", cast.probe)
    assert result.code == 2 and "no such database" in result.err
    assert not db.exists()


def test_an_unplayable_video_gets_faceapps_one_line_without_opencvs_own_warnings(
    db: Path, card, shipped_model_card: Path, yunet_model_path: Path, tmp_path: Path
) -> None:
    make_db(db, {"Ann": 1}, card.model_id, card.dim)
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"not a video at all")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # as a user's shell has it
    command = [sys.executable, "-m", "faceapp", "--db", str(db), "--model", str(shipped_model_card),
               "--detector-model", str(yunet_model_path), "identify", str(video)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    # FFmpeg writes "[mov,mp4,... @ 0x...] moov atom not found" straight to stderr unless told not to.
    assert result.stderr.splitlines() == [f"faceapp: error: cannot open video {video.name}: not a video OpenCV can decode"]


def test_templates_of_another_model_are_counted_and_never_compared(cli, db: Path, enrolled: Cast, library) -> None:
    probe = library.encode_one(load_image(enrolled.probe)).encoding
    with Store.open(db) as store:  # the probe's very own encoding, but tagged with an old model
        store.enroll("Ghost", np.stack([probe, probe]), "an-older-model")
    result = cli("identify", enrolled.probe, "--json")
    assert result.code == 0
    assert "2 templates" in result.err and "enroll those people again" in result.err  # no crop kept: no reencode
    (face,) = result.json_lines()[0]["faces"]
    assert face["name"] == enrolled.name
    result = cli("verify", "ghost", enrolled.probe)
    assert result.code == 2
    assert "error: Ghost has no usable templates for model" in result.err and "faceapp reencode" in result.err
    assert "person id" not in result.err and "enroll them first" not in result.err
    result = cli("reencode")
    assert result.code == 0 and result.out.startswith("nothing to re-encode")
    assert "2 templates of other models kept no face crop" in result.err


def test_verify_someone_without_any_template_says_to_enroll_them(cli, db: Path, enrolled: Cast) -> None:
    with Store.open(db) as store:
        store.enroll("Hollow", np.stack([random_unit(1, 8)[0]]), "an-older-model")
        hollow_id = store.person("Hollow").id
    conn = sqlite3.connect(db)  # a person whose templates are all gone
    conn.execute("DELETE FROM templates WHERE person_id = ?", (hollow_id,))
    conn.commit()
    conn.close()
    result = cli("verify", "Hollow", enrolled.probe)
    assert result.code == 2
    assert "error: Hollow has no templates; enroll them first" in result.err
    assert "reencode" not in result.err


@pytest.fixture
def earlier_card(shipped_model_card: Path, tmp_path: Path) -> Path:
    """The shipped weights as an earlier release might have used them: the other encoding
    (with or without the mirror image) under another model id. Real weights, real encodings."""
    raw = json.loads(shipped_model_card.read_text())
    raw["model_id"] = "faceapp-encoder-earlier"
    raw["embedding"]["mirror_average"] = not raw["embedding"].get("mirror_average", False)
    raw.pop("cohort", None)  # made from the shipped encodings; an earlier release had none
    folder = tmp_path / "earlier"
    folder.mkdir()
    for key in ("weights", "onnx"):
        (folder / raw[key]["file"]).symlink_to(shipped_model_card.parent / raw[key]["file"])
    (folder / shipped_model_card.name).write_text(json.dumps(raw))
    return folder / shipped_model_card.name


def test_enroll_keeps_each_templates_aligned_crop_losslessly(cli, db: Path, cast: Cast, library) -> None:
    assert cli("enroll", cast.name, *cast.enroll).code == 0
    with Store.open(db) as store:
        kept = store.db.execute("SELECT crop FROM templates ORDER BY id").fetchall()
    for (data,), photo in zip(kept, cast.enroll):
        crop = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        np.testing.assert_array_equal(crop, library.encode_one(load_image(photo)).crop)


def test_reencode_brings_an_earlier_models_templates_up_to_date(
    cli, db: Path, cast: Cast, card, earlier_card: Path, library, capsys: pytest.CaptureFixture
) -> None:
    assert main(["--db", str(db), "--model", str(earlier_card), "enroll", cast.name, *map(str, cast.enroll)]) == 0
    capsys.readouterr()
    result = cli("identify", cast.probe, "--json")
    assert "faceapp reencode" in result.err
    assert result.json_lines()[0]["faces"][0]["name"] is None  # the earlier model's templates are not compared

    result = cli("reencode")
    assert result.code == 0, result.err
    assert result.out.strip() == (f"re-encoded 2 templates of 1 person for {card.model_id} "
                                  "(made by faceapp-encoder-earlier)")
    with Store.open(db) as store:
        assert store.stale_templates(card.model_id) == {}
        templates = store.templates_of(cast.name, card.model_id)
    expected = np.stack([library.encode_one(load_image(p)).encoding for p in cast.enroll])
    np.testing.assert_allclose(templates, expected, atol=1e-5)  # as if enrolled again with this model
    result = cli("identify", cast.probe, "--json")
    assert result.err == "" and result.json_lines()[0]["faces"][0]["name"] == cast.name
    assert cli("reencode").out.startswith("nothing to re-encode")  # nothing left to do


def test_reencode_aligns_templates_without_a_crop_again_from_their_enrollment_photos(
    cli, db: Path, cast: Cast, card, earlier_card: Path, library, capsys: pytest.CaptureFixture
) -> None:
    assert main(["--db", str(db), "--model", str(earlier_card), "enroll", cast.name, *map(str, cast.enroll)]) == 0
    capsys.readouterr()
    conn = sqlite3.connect(db)  # as a release before crops were kept would have left them
    conn.execute("UPDATE templates SET crop = NULL")
    conn.commit()
    conn.close()
    result = cli("identify", cast.probe, "--json")
    assert "run 'faceapp reencode' for the 2 that kept their face crop or whose enrollment photo" in result.err

    result = cli("reencode")
    assert result.code == 0, result.err
    assert "re-encoded 2 templates of 1 person" in result.out and "2 aligned again from their enrollment photo" in result.out
    with Store.open(db) as store:
        templates = store.templates_of(cast.name, card.model_id)
        assert store.stale_crops("another-model") != []  # the new crops are kept for next time
    expected = np.stack([library.encode_one(load_image(p)).encoding for p in cast.enroll])
    np.testing.assert_allclose(templates, expected, atol=1e-5)


def test_reencode_names_the_people_whose_templates_it_could_not_bring_up_to_date(cli, db: Path, card) -> None:
    with Store.open(db) as store:  # an older model's templates: Ann's from a camera, no crop kept; Bob's crop damaged
        store.enroll("Ann", random_unit(2, card.dim), "faceapp-encoder-older", sources=["camera 0", "camera 0"])
        store.enroll("Bob", random_unit(1, card.dim, seed=1), "faceapp-encoder-older", crops=[b"not an image"])
        store.enroll("Cy", random_unit(1, card.dim, seed=2), card.model_id)

    result = cli("reencode")
    assert result.code == 0
    assert result.out.startswith("nothing to re-encode")
    assert "1 kept crop could not be used" in result.err and "2 templates of other models kept no face crop" in result.err
    assert result.err.splitlines()[-1].endswith("templates still made by another model, so not matched, of: Ann (2), Bob (1)")


# -- verify ------------------------------------------------------------------------------------------------


def test_verify_accepts_the_person_and_rejects_a_stranger(cli, db: Path, enrolled: Cast, card) -> None:
    genuine = cli("verify", enrolled.name, enrolled.probe)
    assert genuine.code == 0, genuine.err
    assert genuine.out.startswith("accepted") and f"{card.default_threshold:.4f}" in genuine.out

    impostor = cli("verify", enrolled.name, enrolled.stranger, "--json")
    assert impostor.code == 1
    answer = json.loads(impostor.out)
    assert answer == {
        "name": enrolled.name,
        "accepted": False,
        "distance": answer["distance"],
        "threshold": card.default_threshold,
    }
    assert answer["distance"] > card.default_threshold

    with Store.open(db) as store:
        events = store.events(limit=2)
    assert [(e["kind"], e["decision"]) for e in events] == [("verify", "rejected"), ("verify", "accepted")]


def test_verify_unknown_name_or_bad_photo_is_an_error(cli, db: Path, enrolled: Cast, tmp_path: Path) -> None:
    before = snapshot(db)
    result = cli("verify", "Nobody Enrolled", enrolled.probe)
    assert result.code == 2 and "Nobody Enrolled" in result.err
    result = cli("verify", enrolled.name, blank_png(tmp_path / "blank.png"))
    assert result.code == 2 and "no face" in result.err
    result = cli("verify", enrolled.name, tmp_path / "nowhere.jpg")
    assert result.code == 2 and "nowhere.jpg" in result.err
    assert snapshot(db) == before


def test_a_failed_verify_json_prints_one_object_with_the_error(cli, enrolled: Cast, tmp_path: Path) -> None:
    not_a_video = tmp_path / "clip.avi"
    not_a_video.write_text("not a video")
    cases = [
        (("Nobody Enrolled", enrolled.probe), "Nobody Enrolled"),
        ((enrolled.name, blank_png(tmp_path / "blank.png")), "no face"),
        ((enrolled.name, tmp_path / "nowhere.jpg"), "nowhere.jpg"),
        ((enrolled.name, "--camera", not_a_video), "cannot open"),
    ]
    for args, expected in cases:
        result = cli("verify", *args, "--json")
        assert result.code == 2, args
        (answer,) = result.json_lines()
        assert expected in answer["error"] and answer["name"] == args[0]
        assert result.err.startswith("faceapp: error: ") and answer["error"] in result.err
    result = cli("verify", "Nobody Enrolled", enrolled.probe)  # without --json, stdout stays empty
    assert result.code == 2 and result.out == ""


def test_a_failed_identify_json_prints_one_object_with_the_error(cli, enrolled: Cast, tmp_path: Path) -> None:
    # A failure of the whole run (not of one image in a folder) also answers in JSON.
    not_a_video = tmp_path / "clip.avi"
    not_a_video.write_text("not a video")
    for args, expected in [((tmp_path / "nowhere.jpg",), "nowhere.jpg"), (("--camera", not_a_video), "cannot open")]:
        result = cli("identify", *args, "--json")
        assert result.code == 2, args
        (answer,) = result.json_lines()
        assert expected in answer["error"] and answer["path"] == str(args[-1])


def test_threshold_comes_from_the_card_or_the_command_line(cli, enrolled: Cast, card) -> None:
    level = min(card.thresholds, key=float)  # the strictest level the card calibrated
    answer = json.loads(cli("verify", enrolled.name, enrolled.probe, "--json", "--far", level).out)
    assert answer["threshold"] == card.thresholds[level]
    answer = json.loads(cli("--threshold", "0", "verify", enrolled.name, enrolled.probe, "--json").out)
    assert answer["threshold"] == 0 and answer["accepted"] is False
    result = cli("verify", enrolled.name, enrolled.probe, "--far", "0.5")
    assert result.code == 2 and "no threshold" in result.err
    assert cli("verify", enrolled.name, enrolled.probe, "--far", "0.01", "--threshold", "1").code == 2
    assert cli("verify", enrolled.name, enrolled.probe, "--threshold", "-1").code == 2


def test_verify_from_a_camera_needs_consistent_frames(cli, enrolled: Cast, tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", [enrolled.probe], repeats=8)
    result = cli("verify", enrolled.name, "--camera", video, "--frames", 3, "--json")
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["accepted"] is True and answer["frames"] == 3

    nobody = write_video(tmp_path / "nobody.avi", [np.full((240, 320, 3), 90, np.uint8)], repeats=8)
    result = cli("verify", enrolled.name, "--camera", nobody, "--frames", 3)
    assert result.code == 2 and "0 of 8 frames" in result.err


def test_verify_from_a_camera_rejects_a_stranger_and_frames_that_never_agree(cli, db: Path, enrolled: Cast, tmp_path: Path) -> None:
    stranger = write_video(tmp_path / "stranger.avi", [enrolled.stranger], repeats=8)
    result = cli("verify", enrolled.name, "--camera", stranger, "--frames", 3, "--json")
    assert result.code == 1
    assert json.loads(result.out) | {"distance": None, "threshold": None} == {
        "name": enrolled.name, "accepted": False, "distance": None, "threshold": None, "frames": 3, "consistent": True}

    # Two frames of the person, two of the stranger, then the video ends: 3 agreeing were needed.
    mixed = write_video(tmp_path / "mixed.avi", [enrolled.probe, enrolled.stranger], repeats=2)
    result = cli("verify", enrolled.name, "--camera", mixed, "--frames", 3)
    assert result.code == 1 and result.out.startswith("rejected (inconsistent frames): not " + enrolled.name)
    with Store.open(db) as store:  # the log says why, as the GUI's does
        assert store.events(limit=1)[0]["decision"] == "rejected (inconsistent frames)"
    assert cli("verify", enrolled.name, "--camera", mixed, "--frames", 3, "--window", 2).code == 2  # window < frames


# -- import ----------------------------------------------------------------------------------------------------


def test_import_enrolls_each_subfolder_and_a_rerun_skips_them(cli, db: Path, import_people: list[ImportPerson], tmp_path: Path) -> None:
    root = tmp_path / "people"
    chosen = [p for p in import_people if p.usable][:3]
    for person in chosen:
        (root / person.name).mkdir(parents=True)
        for photo in person.photos:
            shutil.copy(photo, root / person.name / photo.name)
    blank_png(root / chosen[0].name / "blank.png")  # a photo without a face: skipped
    (root / "Empty_Person").mkdir()
    blank_png(root / "Empty_Person" / "blank.png")  # nobody usable: not created
    unusable = sum(len(p.photos) - p.usable for p in chosen) + 2

    first = cli("import", root)
    assert first.code == 0, first.err
    assert "imported 3 people" in first.out
    assert f"{unusable} unusable images" in first.out and "1 without a usable image" in first.out
    assert "blank.png" in first.err and "Empty_Person: no usable image" in first.err
    with Store.open(db) as store:
        counts = {p.name: p.templates for p in store.people()}
    assert counts == {p.name: p.usable for p in chosen}

    again = cli("import", root)
    assert again.code == 0
    assert "imported 0 people" in again.out and "3 already enrolled" in again.out
    for person in chosen:
        assert f"{person.name}: already enrolled, skipping" in again.err
    with Store.open(db) as store:
        assert {p.name: p.templates for p in store.people()} == counts


def test_import_says_which_images_it_left_out_and_can_read_underscores_as_spaces(
    cli, db: Path, import_people: list[ImportPerson], tmp_path: Path
) -> None:
    root = tmp_path / "class"
    person = next(p for p in import_people if p.usable)  # a folder name with an underscore, e.g. Person_E_1
    (root / person.name).mkdir(parents=True)
    for photo in person.photos:
        shutil.copy(photo, root / person.name / photo.name)
    shutil.copy(import_people[1].photos[0], root / "loose.jpg")  # not in a person's folder

    result = cli("import", root, "--underscores-as-spaces")
    assert result.code == 0, result.err
    assert f"1 image directly in {root} is not enrolled: put each person's photos in a folder named after them" in result.err
    assert [p.name for p in json_people(cli)] == [person.name.replace("_", " ")]

    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(import_people[1].photos[0], flat / "someone.jpg")
    result = cli("import", flat)
    assert result.code == 2 and "its image would need to be in a folder named after their person" in result.err


def test_a_killed_import_leaves_only_whole_people_and_a_rerun_completes_it(
    cli, db: Path, import_people: list[ImportPerson], tmp_path: Path, shipped_model_card: Path, yunet_model_path: Path
) -> None:
    root = tmp_path / "people"
    for person in import_people[:8]:
        (root / person.name).mkdir(parents=True)
        for photo in person.photos:
            shutil.copy(photo, root / person.name / photo.name)
    expected = {p.name: p.usable for p in import_people[:8] if p.usable}  # the doorway faces are too poor to enroll

    env = {**os.environ, "FACEAPP_DETECTOR_MODEL": str(yunet_model_path), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "faceapp", "--db", str(db), "--model", str(shipped_model_card), "import", str(root)]
    with open(tmp_path / "import.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 120
            while process.poll() is None and time.monotonic() < deadline:
                if people_in(db) >= 1:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.02)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == -signal.SIGKILL, (tmp_path / "import.log").read_text()

    with Store.open(db) as store:
        present = {p.name: p.templates for p in store.people()}
    assert 1 <= len(present) < len(expected), "killed after the first person, before the last"
    for name, templates in present.items():
        assert templates == expected[name], f"{name} is half-enrolled: {templates} of {expected[name]} templates"

    rerun = cli("import", root)
    assert rerun.code == 0, rerun.err
    assert f"{len(present)} already enrolled" in rerun.out
    with Store.open(db) as store:
        assert {p.name: p.templates for p in store.people()} == expected


def people_in(db: Path) -> int:
    """How many people a concurrent import has committed so far (0 while it cannot be read)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM people").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


# -- people ------------------------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_people_rename_and_delete(cli, db: Path, card, monkeypatch: pytest.MonkeyPatch) -> None:
    make_db(db, {"Ann": 2, "Bob": 3}, card.model_id, card.dim)

    result = cli("people", "rename", "ann", "  Anna   Smith ")
    assert result.code == 0 and result.out == "renamed Ann to Anna Smith\n"  # as stored, not as typed
    assert cli("people", "rename", "Anna Smith", "Bob").code == 2  # taken
    assert cli("people", "rename", "Nobody", "X").code == 2
    assert cli("people", "rename", "Bob", "\x1b[31m").code == 2

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: never asks
    result = cli("people", "delete", "Bob")
    assert result.code == 2 and "--yes" in result.err
    monkeypatch.setattr(sys, "stdin", FakeTerminal("n\n"))
    result = cli("people", "delete", "Bob")
    assert result.code == 1 and "Delete Bob and its 3 templates? [y/N]" in result.err
    assert [p.name for p in json_people(cli)] == ["Anna Smith", "Bob"]

    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    assert cli("people", "delete", "Bob").code == 0
    result = cli("people", "delete", "anna smith", "--yes")  # names are case-insensitive
    assert result.code == 0 and "2 templates" in result.out
    assert json_people(cli) == []
    assert cli("people", "delete", "Bob", "--yes").code == 2


def test_people_templates_lists_each_template_and_remove_template_takes_one_away(
    cli, db: Path, card, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(db) as store:
        store.enroll("Ann", random_unit(2, card.dim), card.model_id, sources=["/photos/ann-1.jpg", "/photos/ann-2.jpg"])
        store.enroll("Ann", random_unit(1, card.dim, seed=5), "faceapp-encoder-older", sources=["camera 0"])
        store.enroll("Bob", random_unit(1, card.dim, seed=1), card.model_id)
        first, second, older = (t.id for t in store.templates("Ann"))
        store.db.execute("UPDATE templates SET encoding = ? WHERE id = ?", (b"\0" * 7, second))  # overwritten bytes
        store.db.conn.commit()

    result = cli("people", "templates", "ann")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "CREATED"] and len(lines) == 4
    assert lines[1].split()[:2] == [str(first), "in"] and lines[1].endswith("/photos/ann-1.jpg")
    assert lines[2].split()[:2] == [str(second), "damaged"] and lines[2].endswith("/photos/ann-2.jpg")
    assert lines[3].split()[:3] == [str(older), "other", "model"] and lines[3].endswith("camera 0")
    listed = json.loads(cli("people", "templates", "Ann", "--json").out)
    assert [(t["id"], t["state"], t["model"]) for t in listed] == [
        (first, "in use", card.model_id), (second, "damaged", card.model_id), (older, "other model", "faceapp-encoder-older")]

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: never asks
    result = cli("people", "remove-template", "Ann", second)
    assert result.code == 2 and "--yes" in result.err
    monkeypatch.setattr(sys, "stdin", FakeTerminal("n\n"))
    result = cli("people", "remove-template", "Ann", second)
    assert result.code == 1 and f"Remove template {second} of Ann (/photos/ann-2.jpg)? [y/N]" in result.err
    assert len(json.loads(cli("people", "templates", "Ann", "--json").out)) == 3

    bobs = json.loads(cli("people", "templates", "Bob", "--json").out)[0]["id"]
    result = cli("people", "remove-template", "Ann", bobs, "--yes")  # Bob's id under Ann's name: refused
    assert result.code == 2 and f"Ann has no template {bobs}" in result.err and "people templates" in result.err
    result = cli("people", "remove-template", "Ann", second, "--yes")
    assert result.code == 0 and result.out == f"removed template {second} of Ann: 2 templates left\n"
    assert [t["id"] for t in json.loads(cli("people", "templates", "Ann", "--json").out)] == [first, older]
    assert [(p.name, p.templates) for p in json_people(cli)] == [("Ann", 2), ("Bob", 1)]

    result = cli("people", "remove-template", "Bob", bobs, "--yes")
    assert result.code == 0 and "0 templates left; enroll Bob again" in result.out
    assert cli("people", "templates", "Bob").out == "Bob has no templates: enroll them again, or delete them\n"
    assert cli("people", "templates", "Nobody").code == 2


def json_people(cli) -> list:
    from types import SimpleNamespace

    result = cli("people", "list", "--json")
    assert result.code == 0, result.err
    return [SimpleNamespace(**p) for p in json.loads(result.out)]


def test_global_options_work_before_and_after_the_subcommand(db: Path, card, capsys) -> None:
    make_db(db, {"Ann": 1}, card.model_id, card.dim)
    assert main(["--db", str(db), "people", "list", "--json"]) == 0
    before = capsys.readouterr().out
    assert main(["people", "list", "--json", "--db", str(db)]) == 0
    assert capsys.readouterr().out == before
    assert json.loads(before)[0]["name"] == "Ann"


def test_people_list_before_anyone_is_enrolled_creates_nothing(cli, db: Path) -> None:
    assert json_people(cli) == []
    result = cli("people", "list")
    assert result.code == 0 and "nobody is enrolled" in result.out
    assert not db.exists()


def test_people_list_does_not_load_torch(db: Path, card) -> None:
    make_db(db, {"Ann": 1}, card.model_id, card.dim)
    code = (
        "import sys; from faceapp.cli import main; "
        f"rc = main(['--db', {str(db)!r}, 'people', 'list']); "
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    assert "Ann" in run.stdout and run.stdout.strip().endswith("NO-TORCH")


# -- damaged, locked, missing -------------------------------------------------------------------------------------


def test_a_damaged_database_is_an_error_and_stays_as_it_was(cli, db: Path, cast: Cast) -> None:
    garbage = bytes(range(256)) * 64
    db.write_bytes(garbage)
    for args in (("people", "list"), ("enroll", "Ann", cast.enroll[0]), ("identify", cast.probe)):
        result = cli(*args)
        assert result.code == 2, args
        assert "not a faceapp database" in result.err
    assert db.read_bytes() == garbage
    assert sorted(p.name for p in db.parent.iterdir()) == ["faceapp.db"]  # no -wal/-shm left behind


def test_a_locked_database_is_an_error(cli, db: Path, card) -> None:
    make_db(db, {"Ann": 1}, card.model_id, card.dim)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        result = cli("people", "rename", "Ann", "Anna")
        assert result.code == 2 and "locked" in result.err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [p.name for p in json_people(cli)] == ["Ann"]


def test_a_missing_model_card_is_an_error(cli, db: Path, cast: Cast, tmp_path: Path, capsys) -> None:
    make_db(db, {"Ann": 1}, "whatever-model", 128)
    missing = tmp_path / "no-such-model.json"
    before = snapshot(db)
    for args in (("verify", "Ann", cast.probe), ("identify", cast.probe), ("enroll", "Bob", cast.probe)):
        code = main(["--db", str(db), "--model", str(missing), *map(str, args)])
        err = capsys.readouterr().err
        assert code == 2, args
        assert "model card not found" in err and str(missing) in err
    code = main(["--db", str(db), "--model", str(tmp_path), "identify", str(cast.probe)])  # a folder, not 'folder.json'
    assert code == 2 and f"{tmp_path}: is a folder; give the model card" in capsys.readouterr().err
    assert snapshot(db) == before


# -- evaluate ----------------------------------------------------------------------------------------------------


def small_pairs_file(repo_faces: RepoFaces, path: Path, per_class: int = 20) -> Path:
    """A View 1-style pairs file of the in-repo faces (images: the faces_lfw_layout fixture)."""
    return write_pairs_file(path, *repo_pairs(repo_faces, per_class))


def test_evaluate_scores_a_pairs_file(cli, repo_faces: RepoFaces, faces_lfw_layout: Path, tmp_path: Path, card) -> None:
    pairs = small_pairs_file(repo_faces, tmp_path / "pairs.txt")
    roc_csv, roc_png = tmp_path / "roc.csv", tmp_path / "roc.png"
    result = cli("evaluate", "--pairs", pairs, "--images", faces_lfw_layout, "--json", "--roc", roc_csv)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert {"accuracy", "accuracy_std", "pairs", "threshold", "auc", "detection_failures"} <= set(report)
    assert report["pairs"] == 40
    assert isinstance(report["detection_failures"], int) and report["detection_failures"] >= 0
    assert 0.5 <= report["accuracy"] <= 1
    assert 0 <= report["auc"] <= 1
    assert set(report["tar_at_far"]) == {"0.01", "0.001"}
    assert report["model_id"] == card.model_id

    header, *rows = roc_csv.read_text().splitlines()
    assert header == "far,tar,threshold"
    curve = np.array([[float(v) for v in row.split(",")] for row in rows])
    assert curve[0, 0] == 0 and curve[-1, 0] == 1 and curve[-1, 1] == 1
    assert np.all(np.diff(curve[:, 0]) >= 0) and np.all(np.diff(curve[:, 1]) >= 0)

    few = small_pairs_file(repo_faces, tmp_path / "few.txt", per_class=3)
    text = cli("evaluate", "--pairs", few, "--images", faces_lfw_layout, "--roc", roc_png)
    assert text.code == 0
    assert "accuracy" in text.out and "detection failures" in text.out and "pairs: 6" in text.out
    # 3 different pairs cannot show a false-accept rate of 1e-2: the output says what was measured.
    assert "TAR at FAR 0.01: " in text.out and "only 3 different pairs: measured at 0 false accepts" in text.out
    image = cv2.imread(str(roc_png))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    assert (image < 128).any() and (image > 200).any()  # something drawn on a light background


def test_evaluate_names_a_missing_image(cli, faces_lfw_layout: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(  # scorable (both kinds, two folds), but one image is not there
        "2\nPerson_E\t1\t99\nPerson_E\t1\t9\nPerson_E\t1\tDoorway_1\t1\nPerson_E\t2\tDoorway_2\t1\n"
    )
    result = cli("evaluate", "--pairs", pairs, "--images", faces_lfw_layout)
    assert result.code == 2
    assert "Person_E_0099.jpg" in result.err
    bad = cli("evaluate", "--pairs", tmp_path / "none.txt", "--images", faces_lfw_layout)
    assert bad.code == 2 and "none.txt" in bad.err


# -- gui, train, interrupts ----------------------------------------------------------------------------------------


def test_without_pyside6_the_gui_command_says_so(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "faceapp.gui.app", None)  # its import fails, as without PySide6
    assert main(["gui"]) == 2
    assert "GUI is not available" in capsys.readouterr().err


def test_threads_come_from_the_option_or_the_environment_and_bad_values_are_refused(
    cli, enrolled: Cast, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    previous = cv2.getNumThreads()
    try:
        result = cli("--threads", 1, "identify", enrolled.probe, "--json")
        assert result.code == 0 and result.json_lines()[0]["faces"][0]["name"] == enrolled.name
        assert cv2.getNumThreads() == 1  # detection and alignment were capped too
    finally:
        cv2.setNumThreads(previous)
    result = cli("--threads", 0, "people", "list")
    assert result.code == 2 and "--threads must be at least 1" in result.err
    monkeypatch.setenv("FACEAPP_THREADS", "lots")
    result = cli("people", "list")
    assert result.code == 2 and "FACEAPP_THREADS='lots'" in result.err
    monkeypatch.setenv("FACEAPP_THREADS", "3")
    from faceapp.app import resolve_config

    assert resolve_config().threads == 3 and resolve_config(flags={"threads": 2}).threads == 2


def test_train_passes_its_arguments_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.__main__ as training_main

    seen = []
    monkeypatch.setattr(training_main, "main", lambda argv: seen.append(argv) or 3)
    assert main(["-v", "train", "export", "runs/x", "--out", "assets", "--db", "y"]) == 3
    assert seen == [["export", "runs/x", "--out", "assets", "--db", "y"]]


def test_ctrl_c_exits_130_and_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch, db: Path, card, capsys) -> None:
    import faceapp.cli as cli_module

    def interrupted(ctx, args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli_module.COMMANDS, "people", interrupted)
    assert main(["--db", str(db), "people", "list"]) == 130
    assert main(["no-such-command"]) == 2
    assert main(["verify"]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


def test_a_missing_camera_and_a_damaged_tiff_are_faceapps_one_line_not_opencvs(tmp_path: Path) -> None:
    # OpenCV logs from C++ straight to the process's stderr: only a real process shows it.
    import subprocess
    import sys

    from PIL import Image

    whole = tmp_path / "whole.tif"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:90_000])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEAPP_", "OPENCV_"))}
    for args in (("--camera", "7"), (str(cut),)):
        done = subprocess.run([sys.executable, "-m", "faceapp", "--db", str(tmp_path / "x.db"), "enroll", "A", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("faceapp: error: ")
