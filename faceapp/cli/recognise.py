"""``faceapp verify`` (1:1, a photo or several agreeing frames) and ``faceapp identify`` (1:N)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..app.attendance import AttendanceSession, session_name
from ..app.unknowns import UnknownMemory
from ..app.recognition import (
    NotVerifiableError,
    SightingRule,
    check_verifiable,
    face_follower,
    finish_tracks,
    identify_frames,
    log_verification,
    verify_live,
    verify_photo,
)
from ..errors import ImageError
from .common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REJECTED,
    CLIError,
    Context,
    distance_or_none,
    err,
    face_json,
    fmt_distance,
    folder_images,
    json_line,
    out,
    warn,
    warn_stale,
)


# ---------------------------------------------------------------------------------------
# verify


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    if bool(args.path) == bool(args.camera):
        raise CLIError("verify needs exactly one of PATH or --camera SRC")
    if args.frames < 1:
        raise CLIError("--frames must be at least 1")
    if args.window is not None and args.window < args.frames:
        raise CLIError(f"--window must be at least --frames ({args.frames}), got {args.window}")
    with ctx.open_database() as db:
        person = db.person(args.name)  # unknown name: exit 2 before loading the model
        pipeline = ctx.pipeline()
        threshold = ctx.threshold
        warn_stale(db, pipeline.model_id)
        gallery = db.gallery(pipeline.model_id, pipeline.cohort)
        try:
            check_verifiable(person, gallery)
        except NotVerifiableError as exc:
            raise CLIError(str(exc)) from None
        if args.path:
            result = verify_photo(pipeline, gallery, person, Path(args.path).expanduser(), threshold, args.largest)
        else:
            result = verify_live(pipeline, gallery, person, args.camera, threshold, args.frames, args.window)
        log_verification(db, person, result)
    if args.json:
        obj = {"name": person.name, "accepted": bool(result.accepted), "distance": round(float(result.distance), 6),
               "threshold": threshold}
        if args.camera:
            obj.update(frames=result.frames, consistent=result.consistent)
        json_line(obj)
    else:
        sign = "<=" if result.accepted else ">"
        who = person.name if result.accepted else f"not {person.name}"
        out(f"{result.decision}: {who} (distance {result.distance:.4f} {sign} threshold {threshold:.4f})")
    return EXIT_OK if result.accepted else EXIT_REJECTED


# ---------------------------------------------------------------------------------------
# identify


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:
    from ..camera import parse_source

    if bool(args.path) == bool(args.camera):
        raise CLIError("identify needs exactly one of PATH or --camera SRC")
    spec = parse_source(args.path or args.camera)
    photos = spec.kind in ("image", "folder")
    if args.session is not None:
        session_name(args.session)  # a bad name says so before the model loads
    if args.tracks and (photos or args.no_tracking):
        raise CLIError("--tracks needs a video or live source, with tracking on")
    with ctx.open_database() as db:
        pipeline = ctx.pipeline()
        warn_stale(db, pipeline.model_id)
        gallery = db.gallery(pipeline.model_id, pipeline.cohort)
        if len(gallery) == 0:
            warn(f"nobody is enrolled for model {pipeline.model_id}: every face will be unknown")
        rule = SightingRule(ctx.config.sighting_interval_s)
        follower = face_follower(pipeline, ctx.config, tracking=not args.no_tracking)
        session = None if args.session is None else AttendanceSession(db, args.session, ctx.config.margin)
        memory = (UnknownMemory(db, pipeline.model_id, ctx.config.require_threshold(), pipeline.cohort)
                  if ctx.config.remember_unknowns else None)
        if photos:
            return _identify_images(follower, db, gallery, rule, spec, args, session, memory)
        shared = db.shared_gallery(pipeline.model_id, pipeline.cohort, gallery)  # hears enrollments at other stations
        try:
            return _identify_frames(follower, db, shared, rule, spec, args, session, memory)
        finally:
            shared.close()


def _identify_images(follower, db, gallery, rule: SightingRule, spec, args: argparse.Namespace,
                     session: AttendanceSession | None = None, memory: UnknownMemory | None = None) -> int:
    from ..images import load_image
    from ..types import Frame

    target = Path(str(spec.target))
    paths = folder_images(target) if spec.kind == "folder" else [target]
    if args.max_frames:  # a folder is a slow camera too: its first N images
        paths = paths[: args.max_frames]
    errors = 0
    for index, path in enumerate(paths):
        try:
            frame = Frame(load_image(path), index, 0.0, str(path))
        except ImageError as exc:
            errors += 1
            err(f"error: {exc}")
            if args.json:
                json_line({"path": str(path), "error": str(exc)})
            else:  # the message names the file already
                reason = str(exc).removeprefix(f"{path}: ")
                out(f"{path}: error: {reason}")
            continue
        (result,) = identify_frames(follower, db, gallery, iter([frame]), str(path), rule, session, memory)
        if args.json:
            json_line({"path": str(path), "faces": [explained_face_json(f) for f in result.faces]})
        else:
            _print_faces(str(path), result.faces)
    return EXIT_ERROR if errors else EXIT_OK


def _identify_frames(follower, db, gallery, rule: SightingRule, spec, args: argparse.Namespace,
                     session: AttendanceSession | None = None, memory: UnknownMemory | None = None) -> int:
    from ..camera import open_source

    ended = []  # every track of the source: those that end along the way, then those still open
    count = 0
    with open_source(spec) as source:
        label = source.describe()
        results = identify_frames(follower, db, gallery, iter(source), label, rule, session, memory)
        try:
            for count, result in enumerate(results, start=1):
                ended.extend(getattr(result, "ended", ()))
                if args.json:
                    faces = [explained_face_json(f, video=True) for f in result.faces]
                    json_line({"frame": result.frame.index, "faces": faces})
                else:
                    _print_faces(f"frame {result.frame.index}", result.faces)
                if args.max_frames and count >= args.max_frames:
                    break
        finally:  # Ctrl-C too: the open tracks' visits, departures and unknown faces are kept
            ended.extend(finish_tracks(follower, db, rule, label, session, memory))
    if count == 0:  # a file that opens but holds no frame it can decode: not an empty success
        raise CLIError(f"{label}: no frame could be read from it; is the file whole?")
    if args.tracks:
        for summary in sorted(ended, key=lambda t: t.track):
            _print_track(summary, args.json)
    return EXIT_OK


def explained_face_json(face, video: bool = False) -> dict:
    """``face_json``'s keys, and why: the threshold the face was held to, the runner-up person,
    the face's quality figure (0..1), the encoder's learned quality (null without a quality head)
    and the reason it has no name; in a video, its track."""
    match = face.match
    obj = face_json(face)
    runner_up = getattr(match, "runner_up", None)
    obj.update(
        threshold=distance_or_none(getattr(match, "threshold", math.inf)),
        runner_up=({"name": runner_up, "distance": distance_or_none(match.runner_up_distance)}
                   if runner_up is not None else None),
        quality=getattr(match, "quality", None),
        learned_quality=getattr(match, "learned_quality", None),
        reason=getattr(match, "reason", None),
    )
    if video:
        obj["track"] = getattr(match, "track", None)
    return obj


def _print_track(summary, as_json: bool) -> None:
    if as_json:
        json_line({"track": summary.track, "first_frame": summary.first_frame, "last_frame": summary.last_frame,
                   "name": summary.name, "frames": summary.evidence})
    else:
        out(f"track {summary.track}: frames {summary.first_frame}-{summary.last_frame}, "
            f"{summary.name or 'unknown'}, {summary.evidence} frames of evidence")


def _print_faces(where: str, faces) -> None:
    if not faces:
        out(f"{where}: no face")
        return
    out(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
    for face in faces:
        x, y, w, h = face.detection.int_box()
        name = face.match.name if face.match.name is not None else "unknown"
        out(f"  {name:<30} distance {fmt_distance(face.match.distance):>7}   box {x},{y} {w}x{h}")
