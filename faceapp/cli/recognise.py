"""``faceapp verify`` (1:1, a photo or several agreeing frames) and ``faceapp identify`` (1:N)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ImageError, NoFaceError

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from ..pipeline import Pipeline
    from ..store import PersonInfo, Store
    from ..verification import VerifyOutcome

from .common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REJECTED,
    PROG,
    VERIFY_FRAME_BUDGET,
    CLIError,
    Context,
    encode_file,
    folder_images,
    err,
    face_json,
    fmt_distance,
    json_line,
    open_existing_store,
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
    with open_existing_store(ctx) as store:
        person = store.person(args.name)  # unknown name: exit 2 before loading the model
        pipeline = ctx.pipeline()
        warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        _check_has_templates(person, gallery)
        consistent = True
        if args.path:
            path = Path(args.path).expanduser()
            face = encode_file(pipeline, path, args.largest)
            match = pipeline.verify(face.encoding, gallery, person.id)
            accepted, distance, source, frames = match.accepted, match.distance, str(path), 1
            decision = "accepted" if accepted else "rejected"
        else:
            outcome, source = _verify_live(pipeline, gallery, person, args.camera, args.frames, args.window)
            accepted, distance, frames, consistent = outcome.accepted, outcome.distance, outcome.frames, outcome.consistent
            decision = outcome.decision
        store.log_event("verify", person_id=person.id, name=person.name, decision=decision, distance=distance, source=source)
    threshold = pipeline.threshold
    if args.json:
        obj = {"name": person.name, "accepted": bool(accepted), "distance": round(float(distance), 6), "threshold": threshold}
        if args.camera:
            obj.update(frames=frames, consistent=consistent)
        json_line(obj)
    else:
        sign = "<=" if accepted else ">"
        who = person.name if accepted else f"not {person.name}"
        out(f"{decision}: {who} (distance {distance:.4f} {sign} threshold {threshold:.4f})")
    return EXIT_OK if accepted else EXIT_REJECTED


def _check_has_templates(person: PersonInfo, gallery) -> None:
    """Refuse, by name, a person with nothing to compare against for this model, with the
    right advice: templates of another model want 'faceapp reencode', none at all enrolling."""
    if len(gallery.for_person(person.id)):
        return
    if person.templates:
        raise CLIError(
            f"{person.name} has no usable templates for model {gallery.model_id!r}, only {person.templates} made by "
            f"another model (or damaged): run '{PROG} reencode', or enroll them again if it cannot re-encode them"
        )
    raise CLIError(f"{person.name} has no templates; enroll them first")


def _verify_live(pipeline: Pipeline, gallery, person: PersonInfo, source_spec: str, needed: int,
                 window: int | None) -> tuple[VerifyOutcome, str]:
    """Verify the largest face over several frames by the GUI's rule (faceapp.verification):
    ``needed`` agreeing frames among the last ``window`` decide; frames without a face do not
    count; a source that runs out or a frame budget spent first means rejected as inconsistent."""
    from ..camera import open_source
    from ..verification import VerifyDecider

    window = needed + 2 if window is None else window
    budget = VERIFY_FRAME_BUDGET * needed
    decider = VerifyDecider(window=window, needed=needed, lockout_s=0.0, max_frames=budget)  # one attempt: no lockout
    decider.start(person.name, person.id)
    outcome, read, seen = None, 0, 0
    with open_source(source_spec) as source:
        label = source.describe()
        for frame in source:
            read += 1
            faces = pipeline.find_faces(frame.image, still=frame.path is not None)
            distance = None
            if faces:
                seen += 1
                face = pipeline.encode(frame.image, faces[:1])[0]
                distance = pipeline.verify(face.encoding, gallery, person.id).distance
            outcome = decider.add(distance, pipeline.threshold)
            if outcome is not None or read >= budget:
                break
    if outcome is None:
        if seen < needed:
            raise NoFaceError(f"{label}: a face was seen in only {seen} of {read} frames; {needed} are needed")
        outcome = decider.conclude(pipeline.threshold)
    return outcome, label


# ---------------------------------------------------------------------------------------
# identify


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:
    from ..camera import parse_source

    if bool(args.path) == bool(args.camera):
        raise CLIError("identify needs exactly one of PATH or --camera SRC")
    target = args.path or args.camera
    spec = parse_source(target)
    with open_existing_store(ctx) as store:
        pipeline = ctx.pipeline()
        warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        if len(gallery) == 0:
            warn(f"nobody is enrolled for model {pipeline.model_id}: every face will be unknown")
        if spec.kind in ("image", "folder"):
            return _identify_images(pipeline, gallery, store, spec, args)
        return _identify_frames(pipeline, gallery, store, spec, args)


def _identify_images(pipeline: Pipeline, gallery, store: Store, spec, args: argparse.Namespace) -> int:
    from ..images import load_image
    from ..types import Frame

    target = Path(str(spec.target))
    paths = folder_images(target) if spec.kind == "folder" else [target]
    if args.max_frames:  # a folder is a slow camera too: its first N images
        paths = paths[: args.max_frames]
    errors = 0
    for index, path in enumerate(paths):
        try:
            image = load_image(path)
        except ImageError as exc:
            errors += 1
            err(f"error: {exc}")
            if args.json:
                json_line({"path": str(path), "error": str(exc)})
            else:
                out(f"{path}: error: {exc}")
            continue
        result = pipeline.process(Frame(image, index, 0.0, str(path)), gallery)
        for face in result.faces:
            _log_identify(store, face.match, str(path))
        if args.json:
            json_line({"path": str(path), "faces": [face_json(f) for f in result.faces]})
        else:
            _print_faces(str(path), result.faces)
    return EXIT_ERROR if errors else EXIT_OK


def _identify_frames(pipeline: Pipeline, gallery, store: Store, spec, args: argparse.Namespace) -> int:
    from ..camera import open_source

    present: set[str | None] = set()  # who was in the previous frame: log arrivals, not every frame
    with open_source(spec) as source:
        for count, frame in enumerate(source, start=1):
            result = pipeline.process(frame, gallery)
            now = {face.match.name for face in result.faces}
            for face in result.faces:
                if face.match.name not in present:
                    _log_identify(store, face.match, f"{source.describe()} frame {frame.index}")
                    present.add(face.match.name)
            present = now
            if args.json:
                json_line({"frame": frame.index, "faces": [face_json(f) for f in result.faces]})
            else:
                _print_faces(f"frame {frame.index}", result.faces)
            if args.max_frames and count >= args.max_frames:
                break
    return EXIT_OK


def _log_identify(store: Store, match, source: str) -> None:
    store.log_event(
        "identify",
        person_id=match.person_id,
        name=match.name,
        decision="recognised" if match.accepted else "unknown",
        distance=match.distance,
        source=source,
    )


def _print_faces(where: str, faces) -> None:
    if not faces:
        out(f"{where}: no face")
        return
    out(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
    for face in faces:
        x, y, w, h = face.detection.int_box()
        name = face.match.name if face.match.name is not None else "unknown"
        out(f"  {name:<30} distance {fmt_distance(face.match.distance):>7}   box {x},{y} {w}x{h}")
