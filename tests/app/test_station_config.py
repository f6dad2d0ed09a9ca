"""Which station this is: the host name by default, $FACEAPP_STATION, or --station, resolved
once with the rest of the configuration and recorded with every event the station logs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from faceapp.app import Database, resolve_config
from faceapp.cli import main


def test_the_station_is_the_host_name_unless_the_environment_or_a_flag_names_it() -> None:
    assert resolve_config(environ={}).station == socket.gethostname()
    assert resolve_config(environ={"FACEAPP_STATION": " north door "}).station == "north door"
    assert resolve_config(flags={"station": "desk"}, environ={"FACEAPP_STATION": "north door"}).station == "desk"


def test_the_cli_records_its_station_with_the_events_it_logs(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "faceapp.db"
    monkeypatch.setenv("FACEAPP_STATION", "from the environment")
    assert main(["db", "init", "--db", str(db)]) == 0
    config = resolve_config(flags={"db": str(db), "station": "lab"})
    with Database.open(config.db, station=config.station) as opened:
        opened.log_event("identify", decision="unknown")
    with Database.open(db) as opened:
        assert [e["station"] for e in opened.events()] == ["lab"]
    capsys.readouterr()
    for bad in ("   ", "door\x1b[31m"):
        assert main(["people", "list", "--db", str(db), "--station", bad]) == 2
        assert "--station must be a printable name" in capsys.readouterr().err
