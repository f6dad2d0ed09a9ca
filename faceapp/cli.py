"""``faceapp SUBCOMMAND ...``: enroll, verify, identify, import, people, reencode, evaluate, train, gui.

The entry point builds one :class:`~faceapp.config.Settings` from the command line and passes
plain values down. Heavy pieces load lazily: the encoder (torch) only for subcommands that
embed faces, so ``faceapp people list`` stays instant, and PySide6 only for ``gui``.

Exit codes: 0 success (verify: accepted), 1 verify rejected (or a declined confirmation),
2 any error (one line ``faceapp: error: ...`` on stderr), 130 interrupted. A failed command
leaves the database as it was: everything is checked before the one write transaction.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .config import Settings
from .errors import FaceAppError, ImageError, MultipleFacesError, NoFaceError, StoreError

import numpy as np

if TYPE_CHECKING:  # only for annotations: importing these at runtime would load torch/cv2 eagerly
    from .pipeline import EncodedFace, Pipeline
    from .store import Store

PROG = "faceapp"
EXIT_OK, EXIT_REJECTED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# --camera enrollment: shots must be this many frames apart (not near-duplicates), and we give
# up after this many frames per requested shot.
SHOT_MIN_GAP = 3
SHOT_FRAME_BUDGET = 30
# --camera verification looks at up to this many frames per required consistent frame.
VERIFY_FRAME_BUDGET = 10
THUMBNAIL_QUALITY = 90

# Global options: name -> add_argument keywords (added to the main parser and every
# subparser, with SUPPRESS defaults so they work before or after the subcommand).
_GLOBAL_VALUE_OPTIONS = ("--db", "--model", "--detector-model", "--device", "--threshold", "--far")


class CLIError(FaceAppError):
    """A usage problem found by a subcommand (bad path, conflicting options, ...)."""


# ---------------------------------------------------------------------------------------
# Output helpers


def _out(text: str = "") -> None:
    print(text, file=sys.stdout, flush=True)


def _err(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _warn(text: str) -> None:
    _err(f"warning: {text}")


def _json_line(obj: Any) -> None:
    _out(json.dumps(obj, ensure_ascii=False))


def _distance_or_none(value: float) -> float | None:
    """JSON has no infinity: an empty gallery's distance (inf) is written as null."""
    return round(float(value), 6) if math.isfinite(value) else None


def _fmt_distance(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "-"


class _StderrHandler(logging.Handler):
    """Writes log records to whatever ``sys.stderr`` is *now* (tests swap it between calls)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


@contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    """faceapp's log records on stderr for the duration of one command.

    The handler is removed again afterwards and propagation is left alone, so calling
    ``main()`` from a program (or a test) leaves its logging configuration as it was.
    """
    logger = logging.getLogger("faceapp")
    handler = _StderrHandler()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


# ---------------------------------------------------------------------------------------
# The context every subcommand gets: settings plus lazily loaded pipeline and store.


@dataclass
class Context:
    settings: Settings
    verbose: int = 0
    _pipeline: Pipeline | None = field(default=None, repr=False)

    def pipeline(self) -> Pipeline:
        """Detector + encoder, loaded on first use (this is what imports torch)."""
        if self._pipeline is None:
            from .pipeline import open_pipeline

            s = self.settings
            self._pipeline = open_pipeline(
                s.model_path, s.detector_model, s.device, s.threshold, s.detection_score, s.max_detect_side
            )
            detector = self._pipeline.detector
            if getattr(detector, "quality", "high") != "high":
                _warn(f"using the {detector.name} face detector: fewer faces found, rougher alignment")
            logging.getLogger("faceapp.cli").info(
                "model %s, threshold %.4f, detector %s",
                self._pipeline.model_id,
                self._pipeline.threshold,
                detector.name,
            )
        return self._pipeline

    def open_store(self, create: bool) -> Store:
        from .store import Store

        return Store.open(self.settings.db_path, create=create)


def _warn_stale(store: Store, model_id: str) -> None:
    stale = store.stale_templates(model_id)
    if stale:
        total = sum(stale.values())
        models = ", ".join(sorted(stale))
        without_crop = store.stale_without_crop(model_id)
        if without_crop < total:
            todo = f"run 'faceapp reencode' for the {total - without_crop} that kept their face crop"
            if without_crop:
                todo += f"; the other {without_crop} need their people enrolled again"
        else:
            todo = "enroll those people again (or run 'faceapp import')"
        _warn(
            f"{total} template{'s' if total != 1 else ''} in {store.path} were made by another model "
            f"({models}) and are not used for matching: {todo}"
        )


# ---------------------------------------------------------------------------------------
# Shared pieces


def _collect_image_paths(paths: Sequence[str]) -> list[Path]:
    """Image files named directly or found in the given folders, in order, without repeats."""
    from .images import list_images

    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            try:
                images = list_images(path)
            except OSError as exc:
                raise CLIError(f"{path}: cannot read the folder ({exc.strerror or exc})") from None
            if not images:
                raise CLIError(f"{path}: the folder holds no images")
            found.extend(images)
        elif path.exists():
            found.append(path)  # load_image says clearly what is wrong with a non-image
        else:
            raise ImageError(f"{path}: no such file")
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _encode_file(pipeline: Pipeline, path: Path, largest: bool) -> EncodedFace:
    from .images import load_image

    image = load_image(path)
    return pipeline.encode_one(image, largest=largest, label=str(path))


def _kept_crops(faces: Sequence[EncodedFace]) -> list[bytes]:
    """Each template's aligned crop, lossless, so a later model can re-encode it."""
    from .images import encode_lossless

    return [encode_lossless(f.crop) for f in faces]


def _thumbnail(crop: np.ndarray) -> bytes:
    from .images import encode_jpeg

    return encode_jpeg(crop, THUMBNAIL_QUALITY)


def _face_json(face) -> dict:
    return {
        "box": face.detection.int_box(),
        "name": face.match.name,
        "distance": _distance_or_none(face.match.distance),
    }


def _open_existing_store(ctx: Context) -> Store:
    return ctx.open_store(create=False)


# ---------------------------------------------------------------------------------------
# enroll


@dataclass
class _Shot:
    face: EncodedFace
    source: str


def _capture_shots(pipeline: Pipeline, source_spec: str, shots: int) -> list[_Shot]:
    """``shots`` good single-face frames from a live source, at least SHOT_MIN_GAP frames apart."""
    from .camera import open_source

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
                        _err(f"shot {len(taken)}/{shots} taken (frame {frame.index})")
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
    from .store import validate_name

    name = validate_name(args.name)
    if not args.paths and not args.camera:
        raise CLIError("enroll needs image files/folders or --camera SRC")
    if args.shots < 1:
        raise CLIError("--shots must be at least 1")
    paths = _collect_image_paths(args.paths)
    db_exists = Path(ctx.settings.db_path).expanduser().exists()
    if db_exists:  # fail on a damaged or locked-out database before the slow part
        ctx.open_store(create=False).close()

    pipeline = ctx.pipeline()
    faces: list[EncodedFace] = []
    sources: list[str] = []
    problems: list[str] = []
    for path in paths:
        try:
            faces.append(_encode_file(pipeline, path, args.largest))
            sources.append(str(path.resolve()))
        except (ImageError, NoFaceError, MultipleFacesError) as exc:
            problems.append(str(exc))
    if problems:
        if len(problems) == 1:
            raise FaceAppError(f"{problems[0]}; nothing was enrolled")
        for problem in problems:
            _err(problem)
        raise FaceAppError(f"{len(problems)} of {len(paths)} images cannot be used (see above); nothing was enrolled")
    if args.camera:
        for shot in _capture_shots(pipeline, args.camera, args.shots):
            faces.append(shot.face)
            sources.append(shot.source)


    from .match import identify

    encodings = np.stack([f.encoding for f in faces])
    with ctx.open_store(create=True) as store:
        _warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        own_id = store.person(name).id if store.has_person(name) else None
        warned: set[int] = set()
        for face, source in zip(faces, sources):
            match = identify(face.encoding, gallery, pipeline.threshold)
            if match.accepted and match.person_id != own_id and match.person_id not in warned:
                warned.add(int(match.person_id))
                _warn(
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
            thumbnail=_thumbnail(best.crop),
            crops=_kept_crops(faces),
        )
        info = store.person(name)
    verb = "enrolled" if own_id is None else "added to"
    _out(f"{verb} {info.name}: {len(faces)} template{'s' if len(faces) != 1 else ''} ({info.templates} in total)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# verify


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    if bool(args.path) == bool(args.camera):
        raise CLIError("verify needs exactly one of PATH or --camera SRC")
    if args.frames < 1:
        raise CLIError("--frames must be at least 1")
    if args.window is not None and args.window < args.frames:
        raise CLIError(f"--window must be at least --frames ({args.frames}), got {args.window}")
    with _open_existing_store(ctx) as store:
        person = store.person(args.name)  # unknown name: exit 2 before loading the model
        pipeline = ctx.pipeline()
        _warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        consistent = True
        if args.path:
            path = Path(args.path).expanduser()
            face = _encode_file(pipeline, path, args.largest)
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
        _json_line(obj)
    else:
        sign = "<=" if accepted else ">"
        who = person.name if accepted else f"not {person.name}"
        _out(f"{decision}: {who} (distance {distance:.4f} {sign} threshold {threshold:.4f})")
    return EXIT_OK if accepted else EXIT_REJECTED


def _verify_live(pipeline: Pipeline, gallery, person, source_spec: str, needed: int, window: int | None):
    """Verify the largest face over several frames by the GUI's rule (faceapp.verification):
    ``needed`` agreeing frames among the last ``window`` decide; frames without a face do not
    count; a source that runs out or a frame budget spent first means rejected as inconsistent."""
    from .camera import open_source
    from .verification import VerifyDecider

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
    from .camera import parse_source

    if bool(args.path) == bool(args.camera):
        raise CLIError("identify needs exactly one of PATH or --camera SRC")
    target = args.path or args.camera
    spec = parse_source(target)
    with _open_existing_store(ctx) as store:
        pipeline = ctx.pipeline()
        _warn_stale(store, pipeline.model_id)
        gallery = store.gallery(pipeline.model_id)
        if len(gallery) == 0:
            _warn(f"nobody is enrolled for model {pipeline.model_id}: every face will be unknown")
        if spec.kind in ("image", "folder"):
            return _identify_images(pipeline, gallery, store, spec, args)
        return _identify_frames(pipeline, gallery, store, spec, args)


def _identify_images(pipeline: Pipeline, gallery, store: Store, spec, args: argparse.Namespace) -> int:
    from .images import list_images, load_image
    from .types import Frame

    target = Path(str(spec.target))
    if spec.kind == "folder":
        try:
            paths = list_images(target)
        except OSError as exc:
            raise CLIError(f"{target}: cannot read the folder ({exc.strerror or exc})") from None
        if not paths:
            raise CLIError(f"{target}: the folder holds no images")
    else:
        paths = [target]
    errors = 0
    for index, path in enumerate(paths):
        try:
            image = load_image(path)
        except ImageError as exc:
            errors += 1
            _err(f"error: {exc}")
            if args.json:
                _json_line({"path": str(path), "error": str(exc)})
            else:
                _out(f"{path}: error: {exc}")
            continue
        result = pipeline.process(Frame(image, index, 0.0, str(path)), gallery)
        for face in result.faces:
            _log_identify(store, face.match, str(path))
        if args.json:
            _json_line({"path": str(path), "faces": [_face_json(f) for f in result.faces]})
        else:
            _print_faces(str(path), result.faces)
    return EXIT_ERROR if errors else EXIT_OK


def _identify_frames(pipeline: Pipeline, gallery, store: Store, spec, args: argparse.Namespace) -> int:
    from .camera import open_source

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
                _json_line({"frame": frame.index, "faces": [_face_json(f) for f in result.faces]})
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
        _out(f"{where}: no face")
        return
    _out(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
    for face in faces:
        x, y, w, h = face.detection.int_box()
        name = face.match.name if face.match.name is not None else "unknown"
        _out(f"  {name:<30} distance {_fmt_distance(face.match.distance):>7}   box {x},{y} {w}x{h}")


# ---------------------------------------------------------------------------------------
# import


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .images import list_images
    from .store import validate_name

    root = Path(args.dir).expanduser()
    if not root.is_dir():
        raise CLIError(f"{root}: no such folder")
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise CLIError(f"{root}: holds no identity subfolders (one folder per person, named after them)")
    if Path(ctx.settings.db_path).expanduser().exists():
        ctx.open_store(create=False).close()
    pipeline = ctx.pipeline()
    model_id = pipeline.model_id
    enrolled = skipped = unusable_images = empty_people = bad_names = templates = 0
    with ctx.open_store(create=True) as store:
        _warn_stale(store, model_id)
        with tqdm(folders, desc="import", unit="person", file=sys.stderr, dynamic_ncols=True) as bar:
            def say(message: str) -> None:
                bar.write(message, file=sys.stderr)

            for folder in bar:
                try:
                    name = validate_name(folder.name)
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
                        faces.append(_encode_file(pipeline, path, args.largest))
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
                    thumbnail=_thumbnail(best.crop),
                    crops=_kept_crops(faces),
                )
                enrolled += 1
                templates += len(faces)
    _out(
        f"imported {enrolled} {'person' if enrolled == 1 else 'people'} ({templates} templates); "
        f"{skipped} already enrolled; {unusable_images} unusable image{'s' if unusable_images != 1 else ''} skipped; "
        f"{empty_people} without a usable image"
        + (f"; {bad_names} folder{'s' if bad_names != 1 else ''} with unusable names" if bad_names else "")
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# people


def cmd_people(ctx: Context, args: argparse.Namespace) -> int:
    action = args.people_command
    if action is None:
        raise CLIError("people needs a subcommand: list, rename or delete")
    if action == "list" and not Path(ctx.settings.db_path).expanduser().exists():
        _out("[]" if args.json else "nobody is enrolled")  # a fresh install: no database yet
        return EXIT_OK
    with _open_existing_store(ctx) as store:
        if action == "list":
            return _people_list(ctx, store, args)
        if action == "rename":
            store.rename(args.old, args.new)
            _out(f"renamed {args.old} to {' '.join(args.new.split())}")
            return EXIT_OK
        return _people_delete(store, args)


def _people_list(ctx: Context, store: Store, args: argparse.Namespace) -> int:
    from .embed import read_card

    people = store.people()
    try:  # reading the card is JSON only (no torch); a missing model must not block listing
        _warn_stale(store, read_card(ctx.settings.model_path).model_id)
    except FaceAppError:
        pass
    if args.json:
        _out(json.dumps([{"name": p.name, "templates": p.templates, "created": p.created_at} for p in people], ensure_ascii=False))
        return EXIT_OK
    if not people:
        _out("nobody is enrolled")
        return EXIT_OK
    width = max(4, max(len(p.name) for p in people))
    _out(f"{'NAME':<{width}}  TEMPLATES  CREATED")
    for p in people:
        _out(f"{p.name:<{width}}  {p.templates:>9}  {p.created_at}")
    return EXIT_OK


def _people_delete(store: Store, args: argparse.Namespace) -> int:
    info = store.person(args.name)
    if not args.yes:
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            raise CLIError(f"not deleting {info.name}: confirmation needs an interactive terminal; pass --yes")
        prompt = f"Delete {info.name} and its {info.templates} template{'s' if info.templates != 1 else ''}? [y/N] "
        print(prompt, end="", file=sys.stderr, flush=True)
        answer = stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            _out(f"{info.name} was not deleted")
            return EXIT_REJECTED
    removed = store.delete(info.name)
    _out(f"deleted {info.name} and {removed} template{'s' if removed != 1 else ''}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# reencode


def cmd_reencode(ctx: Context, args: argparse.Namespace) -> int:
    from .embed import load_encoder
    from .reencode import reencode_store

    with _open_existing_store(ctx) as store:
        encoder = load_encoder(ctx.settings.model_path, ctx.settings.device)  # no detector needed
        report = reencode_store(store, encoder)
    plural = "s" if report.reencoded != 1 else ""
    if report.reencoded:
        _out(f"re-encoded {report.reencoded} template{plural} of {report.people} "
             f"{'person' if report.people == 1 else 'people'} for {encoder.model_id} "
             f"(made by {', '.join(report.from_models)})")
    else:
        _out(f"no template kept a face crop to re-encode: all usable templates are {encoder.model_id}'s")
    if report.unreadable:
        _warn(f"{report.unreadable} kept crop{'s' if report.unreadable != 1 else ''} could not be read and "
              "were left as they were")
    if report.without_crop:
        _warn(f"{report.without_crop} template{'s' if report.without_crop != 1 else ''} of other models kept no "
              "face crop (enrolled before faceapp kept them): enroll those people again")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# evaluate


def cmd_evaluate(ctx: Context, args: argparse.Namespace) -> int:

    from .evaluate import lfw_image_path, pair_distances, prepare_pair_images, read_pairs, roc_curve, score_pairs

    pairs = read_pairs(args.pairs)
    images_dir = Path(args.images).expanduser()
    if not images_dir.is_dir():
        raise CLIError(f"{images_dir}: no such folder")
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    missing = [lfw_image_path(images_dir, *key) for key in keys if not lfw_image_path(images_dir, *key).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ImageError(f"{missing[0]}: no such file, named in {args.pairs}{more}")
    if args.roc and Path(args.roc).suffix.lower() not in (".png", ".csv"):
        raise CLIError(f"--roc {args.roc}: use a .png or .csv file name")

    pipeline = ctx.pipeline()
    crops, failures = prepare_pair_images(pairs, images_dir, pipeline.detector)
    for path in failures:
        logging.getLogger("faceapp.cli").info("no face detected in %s (centre crop scored instead)", path)
    encodings = pipeline.encoder.embed(np.stack([crops[k] for k in keys]))
    distances, same, folds = pair_distances(pairs, dict(zip(keys, encodings)))
    report = score_pairs(distances, same, folds, len(failures), len(keys))
    at_model = {
        "threshold": pipeline.threshold,
        "tar": float(np.mean(distances[same] <= pipeline.threshold)) if same.any() else None,
        "far": float(np.mean(distances[~same] <= pipeline.threshold)) if (~same).any() else None,
    }
    if args.roc:
        _write_roc(Path(args.roc), *roc_curve(distances, same), auc=report.auc)
    if args.json:
        _json_line({**report.to_dict(), "model_id": pipeline.model_id, "at_model_threshold": at_model})
        return EXIT_OK
    n_same = int(same.sum())
    _out(f"model {pipeline.model_id}")
    _out(f"pairs: {report.pairs} ({n_same} same, {report.pairs - n_same} different) over {report.images} images")
    _out(f"detection failures: {report.detection_failures} (scored on a centre crop, not dropped)")
    _out(f"accuracy: {report.accuracy:.4f} +/- {report.accuracy_std:.4f} (10-fold, threshold chosen on the other folds)")
    _out(f"AUC: {report.auc:.4f}")
    for level, tar in report.tar_at_far.items():
        _out(f"TAR at FAR {level}: {tar:.4f}")
    _out(f"best threshold on these pairs: {report.threshold:.4f}")
    if at_model["tar"] is not None and at_model["far"] is not None:
        _out(f"at the model's threshold {pipeline.threshold:.4f}: TAR {at_model['tar']:.4f}, FAR {at_model['far']:.4f}")
    if args.roc:
        _out(f"ROC written to {args.roc}")
    return EXIT_OK


def _write_roc(path: Path, far, tar, thresholds, auc: float) -> None:
    path = path.expanduser()
    if not path.parent.is_dir():
        raise CLIError(f"--roc {path}: the folder {path.parent} does not exist")
    if path.suffix.lower() == ".csv":
        lines = ["far,tar,threshold"] + [f"{f:.6f},{t:.6f},{th:.6f}" for f, t, th in zip(far, tar, thresholds)]
        try:
            path.write_text("\n".join(lines) + "\n")
        except OSError as exc:
            raise CLIError(f"--roc {path}: cannot write ({exc.strerror or exc})") from None
        return
    import cv2

    size, margin = 560, 60
    plot = size - 2 * margin
    canvas = np.full((size, size, 3), 255, np.uint8)

    def to_px(x: float, y: float) -> tuple[int, int]:
        return int(round(margin + x * plot)), int(round(size - margin - y * plot))

    grey, black, blue = (210, 210, 210), (0, 0, 0), (200, 90, 20)  # BGR
    font = cv2.FONT_HERSHEY_SIMPLEX
    for tick in np.linspace(0, 1, 6):
        cv2.line(canvas, to_px(tick, 0), to_px(tick, 1), grey, 1)
        cv2.line(canvas, to_px(0, tick), to_px(1, tick), grey, 1)
        x, y = to_px(tick, 0)
        cv2.putText(canvas, f"{tick:.1f}", (x - 12, y + 20), font, 0.4, black, 1, cv2.LINE_AA)
        x, y = to_px(0, tick)
        cv2.putText(canvas, f"{tick:.1f}", (x - 35, y + 4), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.line(canvas, to_px(0, 0), to_px(1, 1), (160, 160, 160), 1, cv2.LINE_AA)
    cv2.rectangle(canvas, to_px(0, 1), to_px(1, 0), black, 1)
    points = np.array([to_px(float(f), float(t)) for f, t in zip(far, tar)] + [to_px(1.0, 1.0)], np.int32)
    cv2.polylines(canvas, [points.reshape(-1, 1, 2)], False, blue, 2, cv2.LINE_AA)
    cv2.putText(canvas, f"ROC  (AUC {auc:.4f})", (margin, margin - 20), font, 0.6, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "false accept rate", (size // 2 - 70, size - 18), font, 0.5, black, 1, cv2.LINE_AA)
    label = np.full((20, 160, 3), 255, np.uint8)
    cv2.putText(label, "true accept rate", (2, 14), font, 0.5, black, 1, cv2.LINE_AA)
    rotated = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
    top = size // 2 - rotated.shape[0] // 2
    canvas[top : top + rotated.shape[0], 2 : 2 + rotated.shape[1]] = rotated
    ok = cv2.imwrite(str(path), canvas)
    if not ok:
        raise CLIError(f"--roc {path}: cannot write the image")


# ---------------------------------------------------------------------------------------
# gui and train


def cmd_gui(ctx: Context, args: argparse.Namespace) -> int:
    try:
        from .gui.app import run_gui
    except ImportError as exc:
        raise FaceAppError(
            f"the GUI is not available ({exc}); install faceapp with PySide6, or use the subcommands "
            f"(see '{PROG} --help')"
        ) from None
    return int(run_gui(ctx.settings, getattr(args, "source", None)) or 0)


def _run_training(argv: list[str]) -> int:
    try:
        from training.__main__ import main as training_main
    except ImportError as exc:
        raise FaceAppError(f"the training package is not available ({exc}); run from a source checkout") from None
    return int(training_main(argv) or 0)


# ---------------------------------------------------------------------------------------
# Argument parsing


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options (before or after the subcommand)")
    S = argparse.SUPPRESS
    group.add_argument("--db", type=Path, default=S, metavar="FILE", help="the database (default: the user data folder)")
    group.add_argument("--model", type=Path, default=S, metavar="CARD.json", help="encoder model card (default: the shipped model)")
    group.add_argument("--detector-model", type=Path, default=S, metavar="ONNX", help="YuNet face detector .onnx file")
    group.add_argument("--device", choices=("cpu", "cuda", "auto"), default=S, help="where the encoder runs (default auto)")
    group.add_argument("--threshold", type=float, default=S, metavar="FLOAT", help="accept distances up to this (overrides the card)")
    group.add_argument("--far", default=S, metavar="LEVEL", help="use the card's threshold for this false-accept rate, e.g. 0.001")
    group.add_argument("-v", "--verbose", action="count", default=S, help="more messages (repeat for debug)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Local face verification (1:1) and recognition (1:N). Without a subcommand, opens the GUI.",
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_global_options(p)
        return p

    p = add("enroll", "enroll a person from photos (each must show exactly one face) and/or a camera")
    p.add_argument("name", metavar="NAME")
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders of images")
    p.add_argument("--largest", action="store_true", help="use the largest face of photos that show several")
    p.add_argument("--camera", metavar="SRC", help="also take shots from a camera index, stream URL or video file")
    p.add_argument("--shots", type=int, default=5, metavar="N", help="how many camera shots (default 5)")

    p = add("verify", "is this NAME? exit 0 accepted, 1 rejected, 2 error")
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", nargs="?", metavar="PATH", help="a photo")
    p.add_argument("--camera", metavar="SRC", help="verify from a live source instead of a photo")
    p.add_argument("--frames", type=int, default=5, metavar="N", help="agreeing frames needed with --camera (default 5)")
    p.add_argument("--window", type=int, metavar="W", help="...among the last W frames with a face (default N + 2)")
    p.add_argument("--largest", action="store_true", help="use the largest face of a photo that shows several")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("identify", "who is in these photos / this video? (JSON lines with --json)")
    p.add_argument("path", nargs="?", metavar="PATH", help="an image, a folder of images or a video file")
    p.add_argument("--camera", metavar="SRC", help="a camera index, stream URL, video file or folder")
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p.add_argument("--max-frames", type=int, default=0, metavar="N", help="stop a video or camera after N frames")

    p = add("import", "bulk-enroll a folder of per-person subfolders (resumable)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--largest", action="store_true", help="use the largest face of photos that show several")

    p = add("people", "list, rename or delete enrolled people")
    people = p.add_subparsers(dest="people_command", metavar="ACTION")
    q = people.add_parser("list", help="everyone enrolled")
    _add_global_options(q)
    q.add_argument("--json", action="store_true")
    q = people.add_parser("rename", help="rename a person")
    _add_global_options(q)
    q.add_argument("old", metavar="OLD")
    q.add_argument("new", metavar="NEW")
    q = people.add_parser("delete", help="delete a person and their templates")
    _add_global_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    add("reencode", "re-encode templates of an earlier model with the current one, from their kept face crops")

    p = add("evaluate", "accuracy on an LFW-format pairs file (10-fold), ROC, TAR at FAR")
    p.add_argument("--pairs", required=True, metavar="FILE")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of <Name>/<Name>_0001.jpg images")
    p.add_argument("--json", action="store_true")
    p.add_argument("--roc", metavar="FILE", help="write the ROC curve as .csv (far,tar,threshold) or .png")

    add("train", "train or export the encoder (same as 'python -m training ...')")

    p = add("gui", "open the app window")
    p.add_argument("--source", metavar="SRC", help="camera index, stream URL, video file or folder to start with")
    return parser


def _split_train(argv: list[str]) -> list[str] | None:
    """The arguments after 'train' when that is the subcommand (passed through untouched)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _GLOBAL_VALUE_OPTIONS:
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        return argv[i + 1 :] if token == "train" else None
    return None


def _settings_from(args: argparse.Namespace) -> Settings:
    threshold = getattr(args, "threshold", None)
    far = getattr(args, "far", None)
    if threshold is not None and far is not None:
        raise CLIError("give --threshold or --far, not both")
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        raise CLIError(f"--threshold must be a number >= 0, got {threshold}")
    settings = Settings.defaults(
        db_path=getattr(args, "db", None),
        model_path=getattr(args, "model", None),
        detector_model=getattr(args, "detector_model", None),
        device=getattr(args, "device", None),
        threshold=threshold,
    )
    if far is not None:
        from dataclasses import replace

        from .embed import read_card

        card = read_card(settings.model_path)
        settings = replace(settings, threshold=_threshold_for_far(card.thresholds, far))
    return settings


def _threshold_for_far(thresholds: dict[str, float], level: str) -> float:
    levels = ", ".join(sorted(thresholds, key=float, reverse=True))
    try:
        wanted = float(level)
    except ValueError:
        raise CLIError(f"--far {level}: not a number; the model card has {levels}") from None
    for key, value in thresholds.items():
        if math.isclose(float(key), wanted, rel_tol=1e-9):
            return float(value)
    raise CLIError(f"--far {level}: the model card has no threshold for it; it has {levels}")


COMMANDS = {
    "enroll": cmd_enroll,
    "verify": cmd_verify,
    "identify": cmd_identify,
    "import": cmd_import,
    "people": cmd_people,
    "reencode": cmd_reencode,
    "evaluate": cmd_evaluate,
    "gui": cmd_gui,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        train_args = _split_train(argv)
        if train_args is not None:
            return _run_training(train_args)
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_ERROR
        verbose = getattr(args, "verbose", 0) or 0
        with _logging_to_stderr(verbose):
            ctx = Context(_settings_from(args), verbose)
            return COMMANDS[args.command or "gui"](ctx, args)
    except FaceAppError as exc:
        message = " ".join(str(exc).splitlines()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. 'faceapp identify ... | head': stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
