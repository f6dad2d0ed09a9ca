"""``faceapp evaluate --open-set DIR`` and ``--degrade-to PX`` through the real command line, on
the in-repo faces with the shipped detector and encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RepoFaces, repo_pairs, write_pairs_file
from faceapp.cli import main
from test_open_set import open_set_folder


@pytest.fixture
def run(shipped_model_card: Path, yunet_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """``run(*args)`` -> (exit code, stdout, stderr) of ``faceapp --model CARD ... *args``."""

    def call(*args: object) -> tuple[int, str, str]:
        code = main(["--db", str(tmp_path / "faceapp.db"), "--model", str(shipped_model_card),
                     "--detector-model", str(yunet_model_path), *(str(a) for a in args)])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_the_open_set_curve_as_json_and_as_text(run, repo_faces: RepoFaces, tmp_path: Path, shipped_model_card: Path) -> None:
    folder = open_set_folder(tmp_path / "set", repo_faces)
    code, out, err = run("evaluate", "--open-set", folder, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["people"], report["gallery_images"], report["probes"], report["unknowns"]) == (1, 2, len(repo_faces.want), 9)
    assert [round(p["rejected"], 4) for p in report["curve"]] == [1.0, 1.0, 1.0]  # 9 strangers: none may be named
    card = json.loads(shipped_model_card.read_text())
    assert report["at_threshold"]["threshold"] == pytest.approx(card["thresholds"]["by_far"][card["thresholds"]["default_far"]])
    assert report["at_threshold"]["rank1"] == 1.0 and report["at_threshold"]["rejected"] == 1.0
    assert report["model_id"] == card["model_id"] and report["degrade_to"] is None

    code, out, err = run("evaluate", "--open-set", folder, "--degrade-to", 30)
    assert code == 0, err
    assert "faces degraded to 30 px" in out and "closed-set rank-1" in out
    assert "unknown rejected 100.0% (asked 90% (only 9 unknown images))" in out
    assert "at the model's threshold" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--degrade-to", "0"], "--degrade-to 0: give the face width in pixels"),
        (["--pairs", "p.txt"], "--open-set scores a folder on its own"),
        ([], None),
    ],
)
def test_open_set_usage_errors_are_one_line(run, repo_faces: RepoFaces, tmp_path: Path, args: list[str], message: str | None) -> None:
    folder = open_set_folder(tmp_path / "set", repo_faces)
    if message is None:  # a folder without unknown/: the layout's own error
        (folder / "unknown").rename(tmp_path / "elsewhere")
        message = "no unknown/ folder"
    code, out, err = run("evaluate", "--open-set", folder, *args)
    assert code == 2 and out == ""
    assert err.startswith("faceapp: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_evaluate_needs_one_mode(run) -> None:
    code, _, err = run("evaluate")
    assert code == 2 and "give --pairs FILE and --images DIR (LFW pairs), or --open-set DIR" in err


def test_pairs_at_low_resolution(run, repo_faces: RepoFaces, faces_lfw_layout: Path, tmp_path: Path) -> None:
    pairs = write_pairs_file(tmp_path / "pairs.txt", *repo_pairs(repo_faces, 10))
    code, out, err = run("evaluate", "--pairs", pairs, "--images", faces_lfw_layout, "--json", "--degrade-to", 24)
    assert code == 0, err
    low = json.loads(out)
    code, out, err = run("evaluate", "--pairs", pairs, "--images", faces_lfw_layout, "--json")
    full = json.loads(out)
    assert low["degrade_to"] == 24 and full["degrade_to"] is None
    assert low["pairs"] == full["pairs"] == 20
    assert low["threshold"] != full["threshold"] and low["auc"] <= full["auc"]  # other images, other distances
