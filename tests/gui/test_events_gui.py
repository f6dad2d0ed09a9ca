"""The Events tab of the real window: filters by person, day and kind (faceapp.app.events), and
"Export CSV…" with the same filters."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import QDate

from faceapp.storage import QueuedEvent, open_store


def test_events_filter_by_person_day_and_kind_and_export_what_is_shown(make_window, gui_pipeline, gui_settings, tmp_path) -> None:
    encoding = np.ones((1, gui_pipeline.encoder.dim), np.float32) / np.sqrt(gui_pipeline.encoder.dim)
    with open_store(gui_settings.db_path) as store:
        for name in ("Ann", "Bea"):
            store.enroll(name, encoding, gui_pipeline.model_id, sources=[f"{name}.jpg"])
        store.log_events([  # days before today's enrollments
            QueuedEvent("u1", "2026-01-05T10:00:00.000+00:00", "verify", name="Ann", decision="accepted", distance=0.3, source="door"),
            QueuedEvent("u2", "2026-01-06T10:00:00.000+00:00", "identify", name="Bea", decision="recognised", distance=0.4,
                        source="door"),
        ])
    window = make_window(None)
    panel = window.events_panel
    every = panel.rows()
    assert [r[1] for r in every].count("enroll") == 2 and len(every) == 4

    panel.set_filters(person="Ann")
    assert {r[2] for r in panel.rows()} == {"Ann"} and len(panel.rows()) == 2
    panel.set_filters(person="Ann", kind="verify")
    assert [(r[1], r[2], r[3]) for r in panel.rows()] == [("verify", "Ann", "accepted")]
    panel.set_filters(kind="identify")
    assert [r[2] for r in panel.rows()] == ["Bea"]
    panel.set_filters(since_day=QDate.currentDate())  # the enrollments are today's, the others are not
    assert [r[1] for r in panel.rows()] == ["enroll", "enroll"]
    panel.set_filters(since_day=QDate(2026, 1, 6), kind="identify")
    assert [r[2] for r in panel.rows()] == ["Bea"]

    panel.set_filters(person="Ann")
    out = tmp_path / "ann.csv"
    assert panel.export_csv(out) == 2
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["name"], r["source"]) for r in rows] == [("enroll", "Ann", "Ann.jpg"), ("verify", "Ann", "door")]
    # never over an existing file: said in the message bar, the file kept as it was
    before = out.read_bytes()
    assert panel.export_csv(out) is None
    assert "a file is there already" in window.messages.text("action") and out.read_bytes() == before
