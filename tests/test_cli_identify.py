"""``faceapp identify`` explains its decisions: each face's threshold, runner-up, quality figure
and reason; in a video, its track, and with ``--tracks`` one line per track at the end; the
open-set options ``--fpir`` and ``--margin``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceapp.cli import main
from faceapp.embed import read_card

from conftest import RepoFaces, moving_face_video

FRAMES = 12
COVERED = (5, 6)


@pytest.fixture
def run(tmp_path: Path, shipped_model_card: Path, capsys: pytest.CaptureFixture):
    """``run(*args)`` runs ``faceapp --db DB --model CARD *args``: (exit code, stdout lines, stderr)."""
    db = tmp_path / "faceapp.db"

    def call(*args: object) -> tuple[int, list[str], str]:
        code = main(["--db", str(db), "--model", str(shipped_model_card), *(str(a) for a in args)])
        out, err = capsys.readouterr()
        return code, [line for line in out.splitlines() if line.strip()], err

    return call


@pytest.fixture
def e_enrolled(run, repo_faces: RepoFaces) -> RepoFaces:
    code, _, err = run("enroll", "Person E", *repo_faces.want[:2])
    assert code == 0, err
    return repo_faces


def test_each_face_of_a_photo_says_why_it_got_its_name(run, e_enrolled: RepoFaces, shipped_model_card: Path) -> None:
    card = read_card(shipped_model_card)
    code, lines, err = run("identify", e_enrolled.hungry[0], "--json")
    assert code == 0, err
    (face,) = json.loads(lines[0])["faces"]
    assert set(face) == {"box", "name", "distance", "threshold", "runner_up", "quality", "learned_quality", "reason"}
    assert 0 < face["learned_quality"] < 1.5  # the shipped card has a quality head
    assert face["name"] == "Person E" and face["reason"] == "match" and face["runner_up"] is None
    assert face["distance"] <= face["threshold"] == pytest.approx(card.default_threshold)  # one person: the 1:1 cap
    assert 0 < face["quality"] <= 1

    code, lines, _ = run("enroll", "Someone Like E", *e_enrolled.hungry[2:4])  # a second person (E again)
    code, lines, err = run("identify", e_enrolled.hungry[0], "--json", "--margin", 0.5)
    (face,) = json.loads(lines[0])["faces"]
    assert face["runner_up"]["name"] in ("Person E", "Someone Like E") and face["runner_up"]["distance"] > 0
    assert face["name"] is None and face["reason"] == "ambiguous"  # the two are far closer than 0.5 apart


def test_a_stricter_fpir_level_lowers_the_threshold_and_an_unknown_level_is_refused(run, e_enrolled: RepoFaces,
                                                                                   shipped_model_card: Path) -> None:
    card = read_card(shipped_model_card)
    strict = min(card.fpir_thresholds, key=float)
    code, lines, err = run("identify", e_enrolled.hungry[0], "--json", "--fpir", strict)
    assert code == 0, err
    assert json.loads(lines[0])["faces"][0]["threshold"] == pytest.approx(card.fpir_thresholds[strict][1])
    code, _, err = run("identify", e_enrolled.hungry[0], "--fpir", "0.3")
    assert code == 2 and err.startswith("faceapp: error: --fpir 0.3: the model card has no such level")


def test_a_video_gives_each_face_its_track_and_tracks_prints_a_line_per_track(
        run, e_enrolled: RepoFaces, tmp_path: Path) -> None:
    video = moving_face_video(tmp_path / "walk.avi", e_enrolled.hungry[0], FRAMES, covered=COVERED)
    code, lines, err = run("identify", video, "--json", "--tracks")
    assert code == 0, err
    frames, tracks = [json.loads(x) for x in lines[:FRAMES]], [json.loads(x) for x in lines[FRAMES:]]
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    faces = [face for f in frames for face in f["faces"]]
    assert len(faces) == FRAMES - len(COVERED)
    assert {face["track"] for face in faces} == {1} and all(face["name"] == "Person E" for face in faces)
    assert tracks == [{"track": 1, "first_frame": 0, "last_frame": FRAMES - 1, "name": "Person E",
                       "frames": tracks[0]["frames"]}]
    assert 1 <= tracks[0]["frames"] < len(faces)  # encoded only while new and every few frames

    code, lines, err = run("identify", video, "--tracks")
    assert code == 0 and lines[-1].startswith(f"track 1: frames 0-{FRAMES - 1}, Person E, ")


def test_tracks_needs_a_video_with_tracking_and_no_tracking_decides_frames_alone(run, e_enrolled: RepoFaces,
                                                                                 tmp_path: Path) -> None:
    code, lines, err = run("identify", e_enrolled.hungry[0], "--tracks")
    assert code == 2 and "--tracks needs a video or live source" in err and lines == []
    video = moving_face_video(tmp_path / "walk.avi", e_enrolled.hungry[0], 4)
    code, lines, err = run("identify", video, "--json", "--no-tracking")
    assert code == 0, err
    assert all(face["track"] is None for line in lines for face in json.loads(line)["faces"])


def test_tracks_lists_the_tracks_that_ended_before_the_video_did(run, e_enrolled: RepoFaces, tmp_path: Path) -> None:
    # The face is hidden for longer than a track may go unseen (8 frames), so it comes back as
    # a second track: both are listed, not only the one still open when the video ends.
    video = moving_face_video(tmp_path / "twice.avi", e_enrolled.hungry[0], 20, step=8, covered=tuple(range(4, 12)))
    code, lines, err = run("identify", video, "--json", "--tracks")
    assert code == 0, err
    tracks = [json.loads(x) for x in lines[20:]]
    assert [(t["track"], t["first_frame"], t["last_frame"]) for t in tracks] == [(1, 0, 3), (2, 12, 19)]
    assert {t["name"] for t in tracks} == {"Person E"}


def test_ctrl_c_in_a_video_keeps_the_visits_of_its_open_tracks(e_enrolled: RepoFaces, tmp_path: Path,
                                                               shipped_model_card: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from faceapp.app import Database

    # A real SIGINT to a real process, sent once it has named E: the visit still open then is
    # logged ("left after ...") and the session marks his departure, as at the end of a video.
    video = moving_face_video(tmp_path / "long.avi", e_enrolled.hungry[0], 400, step=1)
    db_path = tmp_path / "faceapp.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEAPP_")}
    process = subprocess.Popen([sys.executable, "-m", "faceapp", "--db", str(db_path), "--model", str(shipped_model_card),
                                "identify", str(video), "--json", "--session", "Lecture"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:
            if json.loads(line)["frame"] >= 15:
                process.send_signal(signal.SIGINT)
                break
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and err.strip().endswith("faceapp: interrupted"), err
    with Database.open(str(db_path)) as db:
        decisions = [e["decision"] for e in db.events(name="Person E")]
    assert "recognised" in decisions and any(d.startswith("left after") for d in decisions), decisions


def test_a_video_without_one_readable_frame_is_an_error_not_an_empty_success(run, e_enrolled: RepoFaces,
                                                                              tmp_path: Path) -> None:
    whole = moving_face_video(tmp_path / "whole.mkv", e_enrolled.hungry[0], 6)  # Matroska opens cut short
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:4096])  # the header survives, no frame does
    code, lines, err = run("identify", cut)
    assert code == 2 and lines == [] and err.count("\n") == 1
    assert err.startswith("faceapp: error: ") and "no frame could be read" in err
