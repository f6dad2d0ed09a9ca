"""``faceapp enroll`` (photos and/or a camera) and ``faceapp import`` (a folder of people)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FaceAppError, ImageError, MultipleFacesError, NoFaceError, StoreError

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from ..pipeline import EncodedFace, Pipeline

from .common import (
    EXIT_OK,
    PROG,
    SHOT_FRAME_BUDGET,
    SHOT_MIN_GAP,
    CLIError,
    collect_image_paths,
    Context,
    encode_file,
    err,
    kept_crops,
    out,
    thumbnail,
    warn,
    warn_stale,
)


# ---------------------------------------------------------------------------------------
# enroll


@dataclass
class _Shot:
    face: EncodedFace
    source: str


def _capture_shots(pipeline: Pipeline, source_spec: str, shots: int) -> list[_Shot]:
    """``shots`` good single-face frames from a live source, at least SHOT_MIN_GAP frames apart."""
    from ..camera import open_source

    budget = SHOT_FRAME_BUDGET * shots
    taken: list[_Shot] = []
    problems: Counter[str] = Counter()
    last_taken = -SHOT_MIN_GAP
    read = 0
    with open_source(source_spec) as source:
        label = source.describe()
        for frame in source:
            read += 1
            if frame.index - last_taken >= SHOT_MIN_GAP:
                faces = pipeline.find_faces(frame.image, still=frame.path is not None)
                if len(faces) == 1:
                    face = pipeline.encode(frame.image, faces)[0]
                    if face.quality.ok:
                        taken.append(_Shot(face, f"{label} frame {frame.index}"))
                        last_taken = frame.index
                        err(f"shot {len(taken)}/{shots} taken (frame {frame.index})")
                    else:
                        problems.update(face.quality.problems)
                else:
                    problems["show exactly one face" if faces else "no face in view"] += 1
            if len(taken) >= shots or read >= budget:
                break
    if len(taken) < shots:
        hint = f"; most common problem: {problems.most_common(1)[0][0]}" if problems else ""
        raise FaceAppError(
            f"{label}: only {len(taken)} of {shots} good shots in {read} frames{hint}"
        )
    return taken


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    from ..store import validate_name

    name = validate_name(args.name)
    if not args.paths and not args.camera:
        raise CLIError("enroll needs image files/folders or --camera SRC")
    if args.shots < 1:
        raise CLIError("--shots must be at least 1")
    paths = collect_image_paths(args.paths)
    db_exists = Path(ctx.settings.db_path).expanduser().exists()
    if db_exists:  # fail on a damaged or locked-out database before the slow part
        ctx.open_store(create=False).close()

    pipeline = ctx.pipeline()
    faces: list[EncodedFace] = []
    sources: list[str] = []
    problems: list[str] = []
    for path in paths:
        try:
            faces.append(encode_file(pipeline, path, args.largest))
            sources.append(str(path.resolve()))
        except (ImageError, NoFaceError, MultipleFacesError) as exc:
            problems.append(str(exc))
    if problems:
        if len(problems) == 1:
            raise FaceAppError(f"{problems[0]}; nothing was enrolled")
        for problem in problems:
            err(problem)
        raise FaceAppError(f"{len(problems)} of {len(paths)} images cannot be used (see above); nothing was enrolled")
    if args.camera:
        for shot in _capture_shots(pipeline, args.camera, args.shots):
            faces.append(shot.face)
            sources.append(shot.source)


    from ..match import identify

    encodings = np.stack([f.encoding for f in faces])
    with ctx.open_store(create=True) as store:
        warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        own_id = store.person(name).id if store.has_person(name) else None
        warned: set[int] = set()
        for face, source in zip(faces, sources):
            match = identify(face.encoding, gallery, pipeline.threshold)
            if match.accepted and match.person_id != own_id and match.person_id not in warned:
                warned.add(int(match.person_id))
                warn(
                    f"the face in {source} already matches enrolled person {match.name!r} "
                    f"(distance {match.distance:.4f} <= {pipeline.threshold:.4f}); enrolling {name!r} anyway"
                )
        best = max(faces, key=lambda f: f.quality.value)
        store.enroll(
            name,
            encodings,
            pipeline.model_id,
            sources=sources,
            qualities=[f.quality.value for f in faces],
            thumbnail=thumbnail(best.crop),
            crops=kept_crops(faces),
        )
        info = store.person(name)
    verb = "enrolled" if own_id is None else "added to"
    out(f"{verb} {info.name}: {len(faces)} template{'s' if len(faces) != 1 else ''} ({info.templates} in total)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# import


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..images import list_images
    from ..store import validate_name

    root = Path(args.dir).expanduser()
    if not root.is_dir():
        raise CLIError(f"{root}: no such folder")
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = list_images(root)
    if not folders:
        what = "its image would" if len(loose) == 1 else f"its {len(loose)} images would each"
        hint = f"; {what} need to be in a folder named after their person" if loose else ""
        raise CLIError(f"{root}: holds no identity subfolders (one folder per person, named after them){hint}")
    if loose:  # said up front: nobody should think these photos were enrolled
        warn(f"{len(loose)} image{'s' if len(loose) != 1 else ''} directly in {root} "
             f"{'are' if len(loose) != 1 else 'is'} not enrolled: put each person's photos in a folder named after them")
    if Path(ctx.settings.db_path).expanduser().exists():
        ctx.open_store(create=False).close()
    pipeline = ctx.pipeline()
    model_id = pipeline.model_id
    enrolled = skipped = unusable_images = empty_people = bad_names = templates = 0
    with ctx.open_store(create=True) as store:
        warn_stale(store, model_id)
        with tqdm(folders, desc="import", unit="person", file=sys.stderr, dynamic_ncols=True) as bar:
            def say(message: str) -> None:
                bar.write(message, file=sys.stderr)

            for folder in bar:
                try:
                    name = validate_name(folder.name.replace("_", " ") if args.underscores_as_spaces else folder.name)
                except StoreError as exc:
                    bad_names += 1
                    say(f"{PROG}: {folder.name!r}: not a usable name ({exc}), skipping")
                    continue
                if store.has_person(name) and len(store.templates_of(name, model_id)):
                    skipped += 1
                    say(f"{PROG}: {name}: already enrolled, skipping")
                    continue
                faces: list[EncodedFace] = []
                sources: list[str] = []
                try:
                    images = list_images(folder)
                except OSError as exc:
                    images = []
                    say(f"{PROG}: {folder}: cannot read the folder ({exc.strerror or exc})")
                for path in images:
                    try:
                        faces.append(encode_file(pipeline, path, args.largest))
                        sources.append(str(path.resolve()))
                    except (ImageError, NoFaceError, MultipleFacesError) as exc:
                        unusable_images += 1
                        say(f"{PROG}: skipped {exc}")
                if not faces:
                    empty_people += 1
                    say(f"{PROG}: {name}: no usable image, not enrolled")
                    continue
                best = max(faces, key=lambda f: f.quality.value)
                store.enroll(
                    name,
                    np.stack([f.encoding for f in faces]),
                    model_id,
                    sources=sources,
                    qualities=[f.quality.value for f in faces],
                    thumbnail=thumbnail(best.crop),
                    crops=kept_crops(faces),
                )
                enrolled += 1
                templates += len(faces)
    out(
        f"imported {enrolled} {'person' if enrolled == 1 else 'people'} ({templates} templates); "
        f"{skipped} already enrolled; {unusable_images} unusable image{'s' if unusable_images != 1 else ''} skipped; "
        f"{empty_people} without a usable image"
        + (f"; {bad_names} folder{'s' if bad_names != 1 else ''} with unusable names" if bad_names else "")
    )
    return EXIT_OK
