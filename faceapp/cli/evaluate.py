"""``faceapp evaluate``: the LFW pairs protocol on the app's own pipeline, with ROC and TAR at FAR,
or (``--open-set DIR``) the open-set curve of a gallery/probe/unknown folder; ``--degrade-to PX``
scores either on low-resolution copies of the images."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ..errors import ImageError

from .common import (
    EXIT_OK,
    CLIError,
    Context,
    json_line,
    out,
)


# ---------------------------------------------------------------------------------------
# evaluate


def cmd_evaluate(ctx: Context, args: argparse.Namespace) -> int:
    if args.degrade_to is not None and not args.degrade_to > 0:
        raise CLIError(f"--degrade-to {args.degrade_to:g}: give the face width in pixels, a number above 0")
    if args.open_set:
        if args.pairs or args.images or args.roc:
            raise CLIError("--open-set scores a folder on its own; --pairs, --images and --roc belong to the pairs protocol")
        return _evaluate_open_set(ctx, args)
    if not (args.pairs and args.images):
        raise CLIError("give --pairs FILE and --images DIR (LFW pairs), or --open-set DIR")
    return _evaluate_pairs(ctx, args)


def _evaluate_open_set(ctx: Context, args: argparse.Namespace) -> int:
    from ..open_set import REJECTION_LEVELS, evaluate_open_set, prepare_open_set_images, read_open_set_layout

    layout = read_open_set_layout(args.open_set)
    pipeline = ctx.pipeline()
    crops, failures = prepare_open_set_images(layout, pipeline.detector, args.degrade_to)
    for path in failures:
        logging.getLogger("faceapp.cli").info("no face detected in %s (centre crop scored instead)", path)
    report = evaluate_open_set(layout, crops, pipeline.encoder.embed, pipeline.model_id, ctx.threshold, len(failures),
                               pipeline.cohort)
    if args.json:
        json_line({**report.to_dict(), "model_id": pipeline.model_id, "degrade_to": args.degrade_to})
        return EXIT_OK
    out(f"model {pipeline.model_id}" + (f", faces degraded to {args.degrade_to:g} px" if args.degrade_to else ""))
    out(f"gallery: {report.people} people from {report.gallery_images} images; probes: {report.probes} images of them; "
        f"unknown: {report.unknowns} images of people not enrolled")
    out(f"detection failures: {report.detection_failures} (scored on a centre crop, not dropped)")
    out(f"closed-set rank-1 (nearest template, any distance): {report.closed_set_rank1:.4f}")
    for level, point in zip(REJECTION_LEVELS, report.curve):
        coarse = f" (only {report.unknowns} unknown images)" if report.unknowns * (1 - level) < 1 else ""
        out(f"unknown rejected {point.rejected:.1%} (asked {level:.0%}{coarse}): rank-1 {point.rank1:.4f}, "
            f"wrong name {point.wrong_name:.4f}, threshold {point.threshold:.4f}")
    point = report.at_threshold
    out(f"at the model's threshold {point.threshold:.4f}: unknown rejected {point.rejected:.1%}, rank-1 {point.rank1:.4f}, "
        f"wrong name {point.wrong_name:.4f}")
    return EXIT_OK


def _evaluate_pairs(ctx: Context, args: argparse.Namespace) -> int:
    from ..evaluate import lfw_image_path, pair_distances, prepare_pair_images, read_pairs, roc_curve, score_pairs

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
    threshold = ctx.threshold
    crops, failures = prepare_pair_images(pairs, images_dir, pipeline.detector, degrade_to=args.degrade_to)
    for path in failures:
        logging.getLogger("faceapp.cli").info("no face detected in %s (centre crop scored instead)", path)
    encodings = pipeline.encoder.embed(np.stack([crops[k] for k in keys]))
    distances, same, folds = pair_distances(pairs, dict(zip(keys, encodings)), pipeline.cohort)
    report = score_pairs(distances, same, folds, len(failures), len(keys))
    at_model = {
        "threshold": threshold,
        "tar": float(np.mean(distances[same] <= threshold)) if same.any() else None,
        "far": float(np.mean(distances[~same] <= threshold)) if (~same).any() else None,
    }
    if args.roc:
        _write_roc(Path(args.roc), *roc_curve(distances, same), auc=report.auc)
    if args.json:
        json_line({**report.to_dict(), "model_id": pipeline.model_id, "at_model_threshold": at_model,
                   "degrade_to": args.degrade_to})
        return EXIT_OK
    n_same = int(same.sum())
    out(f"model {pipeline.model_id}" + (f", faces degraded to {args.degrade_to:g} px" if args.degrade_to else ""))
    out(f"pairs: {report.pairs} ({n_same} same, {report.pairs - n_same} different) over {report.images} images")
    out(f"detection failures: {report.detection_failures} (scored on a centre crop, not dropped)")
    out(f"accuracy: {report.accuracy:.4f} +/- {report.accuracy_std:.4f} (10-fold, threshold chosen on the other folds)")
    out(f"AUC: {report.auc:.4f}")
    n_different = report.pairs - n_same
    for level, tar in report.tar_at_far.items():
        # Fewer than 1/FAR impostor pairs cannot show that rate: the threshold then sits
        # below every impostor, so say what was measured.
        coarse = f" (only {n_different} different pairs: measured at 0 false accepts)" if n_different * float(level) < 1 else ""
        out(f"TAR at FAR {level}: {tar:.4f}{coarse}")
    out(f"best threshold on these pairs: {report.threshold:.4f}")
    if at_model["tar"] is not None and at_model["far"] is not None:
        out(f"at the model's threshold {threshold:.4f}: TAR {at_model['tar']:.4f}, FAR {at_model['far']:.4f}")
    if args.roc:
        out(f"ROC written to {args.roc}")
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
