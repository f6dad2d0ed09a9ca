"""Specification of the templates dialog's text: what a person reads to pick a template to remove."""

from __future__ import annotations

import pytest

from faceapp.app import TemplateInfo
from faceapp.gui.templates_dialog import describe_template, short_source


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("/home/ann/Pictures/2024/ann-at-desk.jpg", "\u2026/2024/ann-at-desk.jpg"),
        ("C:\\Users\\ann\\Pictures\\ann.jpg", "\u2026/Pictures/ann.jpg"),
        ("/a/b.jpg", "/a/b.jpg"),  # short enough already
        ("photo.jpg", "photo.jpg"),
        ("camera 0 (shot 2 of 5)", "camera 0 (shot 2 of 5)"),
        ("rtsp://door.local/live/1", "rtsp://door.local/live/1"),  # a stream keeps its whole address
        ("", ""),
    ],
)
def test_a_long_photo_path_is_cut_to_its_folder_and_file_name(source: str, shown: str) -> None:
    assert short_source(source) == shown


def template(model_id: str = "m-new", damaged: bool = False, source: str = "/x/y/z/ann.jpg") -> TemplateInfo:
    return TemplateInfo(7, model_id, source, 0.9, "2026-11-27T08:05:31.123+00:00", True, damaged)


def test_each_template_says_when_where_from_and_whether_matching_uses_it() -> None:
    assert describe_template(template(), "m-new") == "Enrolled 2026-11-27 08:05 UTC from \u2026/z/ann.jpg\nIn use"
    assert "damaged: never matched" in describe_template(template(damaged=True), "m-new")
    assert "another model (m-old): not used until re-encoded" in describe_template(template("m-old"), "m-new")
    assert describe_template(template("m-old"), None).endswith("no model loaded: cannot tell whether matching uses it")
    assert "from an unknown source" in describe_template(template(source=""), "m-new")
