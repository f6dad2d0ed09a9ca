"""``faceapp events list | export`` and the corrections ``people merge`` / ``people move-template``,
end to end: real in-repo faces, the shipped detector and encoder, a real SQLite file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest


from conftest import CliResult, RepoFaces


@pytest.fixture
def cli(tmp_cli):
    """faceapp's main() on a database of this test's own (tests/conftest.py: tmp_cli)."""
    return tmp_cli


def one_line_error(result: CliResult, *words: str) -> None:
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceapp: error: "), result.err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_events_list_filters_and_export_writes_a_csv_a_spreadsheet_opens(
        cli, repo_faces: RepoFaces, tmp_path: Path) -> None:
    assert cli("events", "list").out.strip() == "no events: there is no database yet"
    assert cli("enroll", "Zoë E", *repo_faces.hungry[:2]).code == 0
    assert cli("identify", repo_faces.want[0]).code == 0
    assert cli("identify", repo_faces.stranger).code == 0
    everything = json.loads(cli("events", "list", "--json").out)
    assert [e["kind"] for e in everything] == ["identify", "identify", "enroll"]
    assert [e["name"] for e in json.loads(cli("events", "list", "--json", "--kind", "identify", "--person", "zoë e").out)] \
        == ["Zoë E"]
    assert len(json.loads(cli("events", "list", "--json", "--since", "1h").out)) == 3
    assert json.loads(cli("events", "list", "--json", "--since", "2999-01-01").out) == []
    table = cli("events", "list", "--person", "Zoë E").out.splitlines()
    assert table[0].split()[:4] == ["AT", "(UTC)", "KIND", "NAME"] and len(table) == 3

    sheet = tmp_path / "events.csv"
    result = cli("events", "export", "--csv", sheet)
    assert result.code == 0 and result.out.strip() == f"wrote 3 events to {sheet}"
    with open(sheet, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["at", "kind", "name", "decision", "distance", "source", "station"]
    assert [(r["kind"], r["name"]) for r in rows] == [("enroll", "Zoë E"), ("identify", "Zoë E"), ("identify", "")]
    assert rows[0]["at"] <= rows[2]["at"], "oldest first"
    assert float(rows[1]["distance"]) < 1 and rows[1]["source"] == str(repo_faces.want[0])
    one_line_error(cli("events", "export", "--csv", sheet), str(sheet), "already")
    assert sheet.read_text(encoding="utf-8-sig").count("\n") == 4, "the existing file is kept as it was"
    one_line_error(cli("events", "export", "--csv", tmp_path), str(tmp_path), "a folder is there already")
    if Path("/proc/self").is_dir():  # a folder no file can be made in: one line, no traceback
        one_line_error(cli("events", "export", "--csv", "/proc/faceapp-events.csv"), "cannot write it")


def test_bad_event_filters_are_one_line_errors(cli) -> None:
    one_line_error(cli("events", "list", "--since", "yesterday"), "--since", "7d")
    one_line_error(cli("events", "list", "--since", "2026-13-45"), "--since")
    one_line_error(cli("events", "export", "--csv", "out.csv", "--kind", "delete"), "--kind", "correct")


def test_merge_says_its_direction_first_and_move_template_fixes_a_wrong_name(
        cli, repo_faces: RepoFaces) -> None:
    assert cli("enroll", "Person E", *repo_faces.hungry[:2]).code == 0
    assert cli("enroll", "E at the door", *repo_faces.hungry[2:4]).code == 0
    refused = cli("people", "merge", "E at the door", "Person E")  # no terminal, no --yes: asks nothing
    assert refused.out.startswith("merge E at the door into Person E: ")
    one_line_error(refused, "--yes")
    assert len(json.loads(cli("people", "list", "--json").out)) == 2, "nothing changed"
    merged = cli("people", "merge", "e at the door", "person e", "--yes")
    assert merged.code == 0, merged
    assert merged.out.splitlines() == [
        "merge E at the door into Person E: E at the door's 2 templates and events move to Person E, "
        "and E at the door is removed",
        "merged E at the door into Person E: 2 templates and 1 event moved"]
    assert [(p["name"], p["templates"]) for p in json.loads(cli("people", "list", "--json").out)] == [("Person E", 4)]

    assert cli("enroll", "Wrong Name", repo_faces.hungry[4]).code == 0
    template = json.loads(cli("people", "templates", "Wrong Name", "--json").out)[0]["id"]
    one_line_error(cli("people", "move-template", "Person E", template, "Wrong Name", "--yes"), "has no template")
    moved = cli("people", "move-template", "Wrong Name", template, "Person E", "--yes")
    assert moved.code == 0 and moved.out.splitlines()[-1] == \
        f"moved template {template} to Person E: Wrong Name has 0 templates left"
    assert len(json.loads(cli("people", "templates", "Person E", "--json").out)) == 5
    corrections = json.loads(cli("events", "list", "--json", "--kind", "correct").out)
    assert [e["decision"].split(":")[0] for e in corrections] == [
        f"moved template {template} from Wrong Name to Person E", "merged E at the door into Person E"]
    identified = json.loads(cli("identify", repo_faces.want[0], "--json").out)
    assert identified["faces"][0]["name"] == "Person E"


def test_not_this_person_corrects_one_sighting_and_logs_it(cli, repo_faces: RepoFaces) -> None:
    assert cli("enroll", "Person E", *repo_faces.hungry[:2]).code == 0
    assert json.loads(cli("identify", repo_faces.want[0], "--json").out)["faces"][0]["name"] == "Person E"
    sighting = json.loads(cli("events", "list", "--json", "--kind", "identify").out)[0]
    assert sighting["name"] == "Person E"
    refused = cli("events", "not-this-person", sighting["id"])  # no terminal, no --yes: asks nothing
    one_line_error(refused, "--yes")
    assert json.loads(cli("events", "list", "--json", "--kind", "identify").out)[0]["name"] == "Person E"
    corrected = cli("events", "not-this-person", sighting["id"], "--yes")
    assert corrected.code == 0, corrected
    assert corrected.out.splitlines() == [f"corrected event {sighting['id']}: not Person E"]
    after = json.loads(cli("events", "list", "--json", "--kind", "identify").out)[0]
    assert (after["id"], after["name"], after["person_id"], after["decision"]) == \
        (sighting["id"], None, None, "corrected: not Person E")
    correction = json.loads(cli("events", "list", "--json", "--kind", "correct").out)[0]
    assert correction["decision"] == f"event {sighting['id']} was not Person E"
    one_line_error(cli("events", "not-this-person", sighting["id"], "--yes"), "not a sighting that named someone")
    missing = cli("events", "not-this-person", 9999, "--yes")
    one_line_error(missing, "no event 9999")
    assert missing.out == ""  # nothing said done before the store looked
