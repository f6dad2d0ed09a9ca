"""A person's own data, for a subject-access request: everything the database holds about them
as one zip, for ``faceapp people export NAME OUT.zip``."""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .database import Database
from .privacy import PrivacyError

ALL_EVENTS = 2**62  # events(limit=...) of one person: all of them


def _image_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    return ".bin"


@dataclass(frozen=True)
class Export:
    path: Path
    name: str
    templates: int
    crops: int
    events: int


def export_person(db: Database, name: str, out: Path) -> Export:
    """Everything the database holds about one person, for a subject-access request: a zip
    of person.json (their record, templates' metadata and events) with the thumbnail and
    each kept face crop as image files. Written beside ``out`` and renamed into place, never
    over an existing file, readable by its owner only (it is face data)."""
    out = Path(out).expanduser()
    if out.exists():
        raise PrivacyError(f"{out}: already exists; choose another file name")
    person = db.person(name)
    thumbnail = db.thumbnail(person.name)
    templates = db.templates(person.name)
    events = db.events(ALL_EVENTS, person.name)
    files: dict[str, bytes] = {}
    if thumbnail is not None:
        files[f"thumbnail{_image_suffix(thumbnail)}"] = thumbnail
    listed = []
    for template in templates:
        crop = db.template_crop(person.name, template.id)
        crop_file = None
        if crop is not None:
            crop_file = f"crops/template-{template.id}{_image_suffix(crop)}"
            files[crop_file] = crop
        listed.append({"id": template.id, "model": template.model_id, "source": template.source or None,
                       "quality": template.quality, "created_at": template.created_at,
                       "damaged": template.damaged, "crop": crop_file})
    record = {"name": person.name, "created_at": person.created_at, "database": db.location,
              "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "thumbnail": next((f for f in files if f.startswith("thumbnail")), None),
              "templates": listed, "events": events}
    partial = out.with_name(out.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("person.json", json.dumps(record, ensure_ascii=False, indent=2))
            for file_name, data in files.items():
                archive.writestr(file_name, data)
        os.replace(partial, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise PrivacyError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    return Export(out, person.name, len(templates), sum(1 for f in files if f.startswith("crops/")), len(events))
