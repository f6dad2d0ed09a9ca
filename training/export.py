"""Export: weights + JSON model card into ``assets/``, with thresholds calibrated on held-out people.

Thresholds at FAR 1e-2/1e-3/1e-4 come from every impostor pair among identities held out
of training (never LFW). The card also records LFW View 1 accuracy (model selection only),
rank-1 identification on the held-out people, CPU latency, the training recipe and sha256.
Next to the float16 weights for torch goes an ONNX copy of the same network, which the app
runs through ONNX Runtime on CPUs. By default the card tells the app to average each face's
encoding with its mirror image's (``--no-mirror`` exports single-pass encodings), and every
figure on the card is measured that way.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from faceapp.align import TEMPLATE, CROP_SIZE
from faceapp.cohort import Cohort
from faceapp.evaluate import FAR_LEVELS, threshold_at_far
from faceapp.images import file_sha256
from faceapp.model import PIXEL_MEAN, PIXEL_STD, TowerConfig, build_tower

from .engine import embed_crops, impostor_distances, kept_weights, rank1_identification

DEFAULT_FAR = "0.001"


def calibrate(encodings: np.ndarray, labels: np.ndarray, cohort: Cohort | None = None) -> dict:
    """Thresholds at each FAR level over all held-out impostor pairs, with the TAR they give
    (distances adjusted by ``cohort`` where the card has one: ``training.cohort``)."""
    genuine, impostor = impostor_distances(encodings, labels, cohort=cohort)
    levels = {}
    for far in FAR_LEVELS:
        threshold = threshold_at_far(impostor, far)
        levels[f"{far:g}"] = {"threshold": round(threshold, 5), "tar": round(float(np.mean(genuine <= threshold)), 4)}
    rank1, probes = rank1_identification(encodings, labels)
    return {
        "levels": levels,
        "genuine_pairs": int(len(genuine)),
        "impostor_pairs": int(len(impostor)),
        "rank1": round(rank1, 4),
        "rank1_probes": probes,
        "identities": int(len(np.unique(labels))),
    }


def cpu_latency_ms(model: torch.nn.Module, batch: int, repeats: int = 20, mirror_average: bool = False) -> float:
    """Median milliseconds per face on the CPU (figures for the card, not a test); a face
    costs two images through the network where its mirror image is averaged in."""
    model = model.to("cpu").eval()
    images = torch.rand(batch * (2 if mirror_average else 1), 3, CROP_SIZE, CROP_SIZE) * 255
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(images)
        for _ in range(repeats):
            started = time.perf_counter()
            model(images)
            times.append((time.perf_counter() - started) * 1000 / batch)
    return round(float(np.median(times)), 3)


def write_weights(model: torch.nn.Module, path: Path) -> tuple[str, int]:
    """float16 state dict (half the size), then its sha256. Every figure on the card is
    measured on these float16-rounded weights (``half_roundtrip``), as the app loads them."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(state, partial)
    partial.replace(path)
    return file_sha256(path), path.stat().st_size


class _SplitPReLU(torch.nn.Module):
    """PReLU rewritten as ``a * x + (1 - a) * relu(x)``: the same values (to float rounding).

    ONNX Runtime's CPU provider has no blocked-layout (NCHWc) kernel for PRelu, so every PRelu
    leaves that layout, runs as a slow broadcast op, and re-enters it: a large share of the
    tower's time on a CPU (README, "How it works"). Mul, Relu and Add stay in the layout and
    fuse into the convs.
    """

    def __init__(self, prelu: torch.nn.PReLU) -> None:
        super().__init__()
        slope = prelu.weight.detach().reshape(1, -1, 1, 1)
        self.register_buffer("slope", slope.clone())
        self.register_buffer("rest", 1 - slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.slope * x + self.rest * torch.relu(x)


def onnx_ready(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every per-channel PReLU swapped for :class:`_SplitPReLU`."""
    model = copy.deepcopy(model).cpu().eval()
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, torch.nn.PReLU) and child.weight.numel() > 1:
                setattr(parent, name, _SplitPReLU(child))
    return model


def write_onnx(model: torch.nn.Module, path: Path) -> tuple[str, int]:
    """The same network as ONNX, for ONNX Runtime on CPUs (faster than torch there: README,
    "Benchmarks").

    ``model`` is the float16-rounded tower the app loads, so both runtimes compute the same
    encodings; the ONNX file holds those values as float32, since ONNX Runtime's CPU kernels
    are float32. Its PReLUs are written in a form ONNX Runtime runs faster (``onnx_ready``).
    The batch dimension stays dynamic.
    """
    import warnings

    model = onnx_ready(model)
    example = torch.rand(2, 3, CROP_SIZE, CROP_SIZE) * 255
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it lists every torchvision op it skips
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), input_names=["images"], output_names=["encodings"],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    finally:
        exporter_log.setLevel(level)
    partial = path.with_name(path.name + ".part")
    program.save(str(partial))
    partial.replace(path)
    return file_sha256(path), path.stat().st_size


def onnx_latency_ms(path: Path, batch: int, repeats: int = 20, mirror_average: bool = False) -> float:
    """Median milliseconds per face through the app's own ONNX Runtime session (two images
    per face where the mirror image is averaged in)."""
    from faceapp.embed import _onnx_session

    session = _onnx_session(path, torch.get_num_threads())
    images = np.random.default_rng(0).uniform(0, 255, (batch * (2 if mirror_average else 1), 3, CROP_SIZE, CROP_SIZE))
    images = images.astype(np.float32)
    times = []
    for i in range(repeats + 3):
        started = time.perf_counter()
        session.run(None, {"images": images})
        if i >= 3:
            times.append((time.perf_counter() - started) * 1000 / batch)
    return round(float(np.median(times)), 3)


def half_roundtrip(model: torch.nn.Module, tower: TowerConfig) -> torch.nn.Module:
    """The model exactly as the app will load it: weights rounded through float16."""
    copy = build_tower(tower)
    copy.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return copy.eval()


def read_history(run_dir: Path, up_to_epoch: int | None = None) -> list[dict]:
    log_path = run_dir / "log.jsonl"
    if not log_path.exists():
        return []
    history = [json.loads(line) for line in log_path.read_text().splitlines()]
    return [h for h in history if up_to_epoch is None or h["epoch"] <= up_to_epoch]


def training_stages(run_dir: Path, epoch: int | None) -> list[dict]:
    """The chain of runs behind a checkpoint, oldest first, following each run's ``init``.

    A fine-tuned model's recipe is every stage's recipe: each stage lists its objective
    weights, schedule and the epochs of its log that the next stage actually started from.
    """
    stages: list[dict] = []
    while (run_dir / "config.json").exists():
        config = json.loads((run_dir / "config.json").read_text())
        stages.append({
            "run": run_dir.name, "init": config.get("init"), "epochs_used": epoch,
            "teacher_weight": config.get("teacher_weight") if config.get("teacher") else 0.0,
            "teacher_distance_weight": config.get("teacher_distance_weight", 0.0) if config.get("teacher") else 0.0,
            "cosface_weight": config.get("cosface_weight", 0.0),
            "unlabelled": config.get("unlabelled"), "unlabelled_batch": config.get("unlabelled_batch") if config.get("unlabelled") else 0,
            "degrade": config.get("degrade", 0.0),
            "miner": config.get("miner"), "margin": config.get("margin"), "lr": config.get("lr"),
            "ema_decay": config.get("ema_decay", 0.0), "history": read_history(run_dir, epoch),
        })
        init = config.get("init")
        if not init or not Path(init).exists():
            break
        epoch = torch.load(init, map_location="cpu", weights_only=False).get("epoch")
        run_dir = Path(init).resolve().parent
    return stages[::-1]


def export(run_dir: Path, out_dir: Path, name: str = "faceapp-encoder", checkpoint: str = "best.pt",
           detector_model: str | None = None, extra: dict | None = None, benchmark: bool = True,
           val_pairs: str | None = None, val_images: str | None = None, mirror_average: bool = True) -> dict:
    """Weights + model card for a run. ``val_pairs``/``val_images`` add LFW View 1 to a run that
    trained without it (a GPU machine has no LFW and no detector). ``mirror_average``: the app
    encodes each face as the average with its mirror image, and the thresholds, held-out and
    LFW figures are all measured on those encodings."""
    from .train import TrainConfig, load_training_data, prepare_lfw
    from faceapp.evaluate import evaluate_pairs

    config_data = json.loads((run_dir / "config.json").read_text())
    data_info, steps = config_data.pop("data_info"), config_data.pop("steps_per_epoch")
    epochs = config_data.pop("epochs_run", None) or config_data["epochs"]  # --fit-minutes chose its own
    precision = config_data.pop("precision_ran", None)  # runs before it was recorded: what --amp asked for
    config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config_data.items()})
    if detector_model:
        config.detector_model = detector_model
    if val_pairs and val_images:
        config.val_pairs, config.val_images = val_pairs, val_images
    state = torch.load(run_dir / checkpoint, map_location="cpu", weights_only=False)
    tower = TowerConfig.from_dict(state["tower"])
    trained = build_tower(tower)
    trained.load_state_dict(kept_weights(state))
    model = half_roundtrip(trained, tower)
    device = torch.device("cpu")

    _, held, _ = load_training_data(config)
    def encode(crops: np.ndarray) -> np.ndarray:
        return embed_crops(model, crops, device, mirror_average=mirror_average)

    calibration = calibrate(encode(held.crops), held.labels)
    lfw = prepare_lfw(config)
    lfw_result = None
    if lfw is not None:
        pairs, crops, failures = lfw
        report = evaluate_pairs(pairs, crops, encode, len(failures))
        lfw_result = {k: v for k, v in report.to_dict().items()}

    weights_path = out_dir / f"{name}.pt"
    sha, size = write_weights(trained, weights_path)
    onnx_path = out_dir / f"{name}.onnx"
    onnx_sha, onnx_size = write_onnx(model, onnx_path)
    history = read_history(run_dir)
    card = {
        # The same weights encode differently with and without the mirror average, so the id
        # (which enrolled templates are filed under) tells the two apart.
        "model_id": f"{name}-{sha[:12]}" + ("-mirror" if mirror_average else ""),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "weights": {"file": weights_path.name, "sha256": sha, "bytes": size, "dtype": "float16 (loaded as float32)"},
        "onnx": {"file": onnx_path.name, "sha256": onnx_sha, "bytes": onnx_size, "dtype": "float32 (the float16 weights' values)",
                 "input": "images (N, 3, 112, 112) float32 RGB 0..255", "output": "encodings (N, dim)",
                 "use": "CPU inference through ONNX Runtime; torch runs the .pt on GPUs"},
        "architecture": {"name": "FaceTower (faceapp.model)", "config": tower.to_dict(),
                         "parameters": int(sum(p.numel() for p in model.parameters()))},
        "input": {"size": CROP_SIZE, "channels": "RGB", "dtype": "uint8 values as float, 0..255",
                  "normalisation": {"mean": PIXEL_MEAN, "std": PIXEL_STD, "applied": "inside the model"},
                  "alignment": {"function": "faceapp.align.align_face", "template_112": TEMPLATE.round(4).tolist(),
                                "detector": "YuNet (cv2.FaceDetectorYN) 5 landmarks"}},
        "embedding": {"dim": tower.dim, "normalised": "L2", "distance": "euclidean (0..2)",
                      "mirror_average": mirror_average,
                      "computed_as": ("L2-normalise(f(crop) + f(left-right mirror of crop)), one batch of 2N"
                                      if mirror_average else "f(crop)")},
        "thresholds": {
            "by_far": {level: v["threshold"] for level, v in calibration["levels"].items()},
            "default_far": DEFAULT_FAR,
            "calibration": calibration,
            "calibrated_on": f"all pairs among {calibration['identities']} CelebA identities held out of training",
        },
        "training": {
            "data": data_info,
            "objective": {
                "triplet": {"miner": config.miner, "margin": config.margin, "soft_margin": config.soft_margin,
                            "distance": "euclidean on L2-normalised encodings"},
                "teacher": ({"weight": config.teacher_weight, "term": "1 - cosine(student, teacher - mean teacher encoding of the training set)",
                             "teacher": "dlib ResNet (face_recognition 1.3.0) encodings, precomputed"}
                            if config.teacher else None),
                "teacher_distance": ({"weight": config.teacher_distance_weight,
                                      "term": "Huber(batch pairwise distances / their mean, student vs raw dlib encodings)"}
                                     if config.teacher and config.teacher_distance_weight else None),
                "cosface": ({"weight": config.cosface_weight, "margin": config.cosface_margin, "scale": config.cosface_scale,
                             "term": "cross-entropy over every training identity, scale x (cosine - margin at the true one); "
                                     "head imprinted from class-mean encodings, dropped at export"}
                            if config.cosface_weight else None),
                "unlabelled_faces": ({"file": config.unlabelled, "per_step": config.unlabelled_batch,
                                      "terms": "the teacher terms only (cosine and relational), never triplet or CosFace"}
                                     if config.unlabelled else None),
                "webcam_degradation": ({"fraction": config.degrade, "face_px": list(config.degrade_face_px),
                                        "what": "training.degrade.WebcamDegrader on the student's input: light and colour cast, "
                                                "occlusion, blur, low resolution, sensor noise, JPEG; teacher targets from the clean image"}
                                       if config.degrade else None),
            },
            "weights_kept": f"exponential moving average, decay {config.ema_decay}" if config.ema_decay else "the trained weights",
            "stages": training_stages(run_dir, state.get("epoch")),
            "optimiser": {"name": "AdamW", "lr": config.lr, "weight_decay": config.weight_decay,
                          "schedule": f"linear warm-up {config.warmup_steps} steps, cosine to 0",
                          "batch": f"P x K = {config.p} x {config.k}", "epochs": epochs, "epochs_completed": history[-1]["epoch"] if history else 0, "steps_per_epoch": steps,
                          "amp": precision or ("bf16 autocast" if config.amp else "fp32")},
            "checkpoint": {"file": checkpoint, "epoch": state.get("epoch")},
            "history": history,
            "never_trained_on": "LFW (any view)",
        },
        "benchmarks": {"lfw_view1": lfw_result},
        **(extra or {}),
    }
    if benchmark:
        card["benchmarks"]["cpu_ms_per_face"] = {
            "batch_1": onnx_latency_ms(onnx_path, 1, mirror_average=mirror_average),
            "batch_32": onnx_latency_ms(onnx_path, 32, repeats=5, mirror_average=mirror_average),
            "runtime": "onnxruntime (what the app uses on a CPU)",
            "includes_mirror_pass": mirror_average,
            "single_pass_batch_1": onnx_latency_ms(onnx_path, 1),
            "torch": {"batch_1": cpu_latency_ms(model, 1, mirror_average=mirror_average),
                      "batch_32": cpu_latency_ms(model, 32, repeats=5, mirror_average=mirror_average)},
            "threads": torch.get_num_threads(),
        }
    (out_dir / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training export", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder written by 'train'")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    parser.add_argument("--name", default="faceapp-encoder")
    parser.add_argument("--checkpoint", default="best.pt")
    parser.add_argument("--detector-model", help="YuNet .onnx for preparing the LFW View 1 pairs")
    parser.add_argument("--no-benchmark", action="store_true")
    parser.add_argument("--val-pairs", help="LFW View 1 pairs file, where the run had none (e.g. trained on a GPU machine)")
    parser.add_argument("--val-images", help="the folder of those pairs' images")
    parser.add_argument("--no-mirror", action="store_true",
                        help="single-pass encodings (1.7x faster per face, about 0.6-1 point lower on LFW View 1)")
    args = parser.parse_args(argv)
    card = export(args.run, args.out, args.name, args.checkpoint, args.detector_model, benchmark=not args.no_benchmark,
                  val_pairs=args.val_pairs, val_images=args.val_images, mirror_average=not args.no_mirror)
    summary = {"model_id": card["model_id"], "thresholds": card["thresholds"]["by_far"],
               "calibration": card["thresholds"]["calibration"]["levels"], "rank1": card["thresholds"]["calibration"]["rank1"],
               "lfw_view1": card["benchmarks"]["lfw_view1"], "cpu": card["benchmarks"].get("cpu_ms_per_face")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
