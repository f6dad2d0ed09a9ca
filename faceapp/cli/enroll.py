"""``faceapp enroll`` (photos and/or a camera) and ``faceapp import`` (a folder of people)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..app.enrollment import capture_shots, identity_folders, import_people, lookalikes, photo_shots, store_shots
from ..errors import FaceAppError
from ..names import validate_name
from .common import EXIT_OK, PROG, CLIError, Context, collect_image_paths, err, out, warn, warn_stale


# ---------------------------------------------------------------------------------------
# enroll


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    name = validate_name(args.name)
    if not args.paths and not args.camera:
        raise CLIError("enroll needs image files/folders or --camera SRC")
    if args.shots < 1:
        raise CLIError("--shots must be at least 1")
    paths = collect_image_paths(args.paths)
    if ctx.database_exists():  # fail on a damaged or locked-out database before the slow part
        ctx.open_database().close()

    pipeline = ctx.pipeline()
    shots, problems = photo_shots(pipeline, paths, args.largest)
    if problems:
        if len(problems) == 1:
            raise FaceAppError(f"{problems[0]}; nothing was enrolled")
        for problem in problems:
            err(problem)
        raise FaceAppError(f"{len(problems)} of {len(paths)} images cannot be used (see above); nothing was enrolled")
    if args.camera:
        shots += capture_shots(pipeline, args.camera, args.shots, ctx.config.shot_interval_s,
                               on_shot=lambda taken, index: err(f"shot {taken}/{args.shots} taken (frame {index})"))

    threshold = ctx.threshold
    with ctx.open_database(create=True) as db:
        warn_stale(db, pipeline.model_id)
        for other in lookalikes(shots, db.gallery(pipeline.model_id, pipeline.cohort), threshold, name):
            warn(
                f"the face in {other.sources[0]} already matches enrolled person {other.name!r} "
                f"(distance {other.distance:.4f} <= {threshold:.4f}); enrolling {name!r} anyway"
            )
        enrolled = store_shots(db, name, shots, pipeline.model_id, threshold=threshold, cohort=pipeline.cohort)
    verb = "enrolled" if enrolled.new_person else "added to"
    out(f"{verb} {enrolled.name}: {enrolled.added} template{'s' if enrolled.added != 1 else ''} ({enrolled.total} in total)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# import


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    root = Path(args.dir).expanduser()
    if not root.is_dir():
        raise CLIError(f"{root}: no such folder")
    folders, loose = identity_folders(root)
    if not folders:
        what = "its image would" if len(loose) == 1 else f"its {len(loose)} images would each"
        hint = f"; {what} need to be in a folder named after their person" if loose else ""
        raise CLIError(f"{root}: holds no identity subfolders (one folder per person, named after them){hint}")
    if loose:  # said up front: nobody should think these photos were enrolled
        warn(f"{len(loose)} image{'s' if len(loose) != 1 else ''} directly in {root} "
             f"{'are' if len(loose) != 1 else 'is'} not enrolled: put each person's photos in a folder named after them")
    if ctx.database_exists():
        ctx.open_database().close()
    pipeline = ctx.pipeline()
    counts = {"enrolled": 0, "skipped": 0, "empty": 0, "bad name": 0}
    unusable_images = templates = 0
    with ctx.open_database(create=True) as db:
        warn_stale(db, pipeline.model_id)
        # disable=None: a bar only at a terminal; a log file or a pipe gets the messages alone
        with tqdm(total=len(folders), desc="import", unit="person", file=sys.stderr, dynamic_ncols=True,
                  disable=None) as bar:
            for step in import_people(db, pipeline, folders, args.largest, args.underscores_as_spaces,
                                      threshold=ctx.threshold):
                for message in step.messages:
                    bar.write(f"{PROG}: {message}", file=sys.stderr)
                counts[step.outcome] += 1
                unusable_images += step.unusable
                templates += step.templates
                bar.update(1)
    enrolled, bad_names = counts["enrolled"], counts["bad name"]
    out(
        f"imported {enrolled} {'person' if enrolled == 1 else 'people'} ({templates} templates); "
        f"{counts['skipped']} already enrolled; {unusable_images} unusable image{'s' if unusable_images != 1 else ''} skipped; "
        f"{counts['empty']} without a usable image"
        + (f"; {bad_names} folder{'s' if bad_names != 1 else ''} with unusable names" if bad_names else "")
    )
    return EXIT_OK
