"""Triplet training of the faceapp tower: config -> objects -> loop -> checkpoints (resumable).

    python -m training train data/train.npz --teacher ../shared/datasets/teacher-dlib.npz \
        --val-pairs ../shared/datasets/lfw-view1/pairsDevTest.txt --val-images ../shared/datasets/lfw-view1 \
        --out runs/shipped --epochs 12

Runs on CUDA with bf16 autocast and channels-last when a GPU is present (the crops then stay
resident in GPU memory), on the CPU (bf16 autocast too, which AMX/AVX-512 CPUs run fast)
otherwise; ``torchrun --nproc_per_node N`` trains with DistributedDataParallel. Every epoch
writes ``checkpoint.pt`` (running the same command again resumes from it), appends a line to
``log.jsonl`` and keeps the best checkpoint (LFW View 1 where given, else held-out pairs).
``--fit-minutes M`` times a few steps first and picks the number of epochs that fits M minutes,
then re-plans from the real first epoch (validation included), so a lent GPU or a CPU session
is used to its end with the schedule fully annealed.

``--unlabelled FILE`` adds faces without identities (prepared with ``prepare --unlabelled``,
their teacher encodings from ``--unlabelled-teacher``): ``--unlabelled-batch`` of them join
every step for the teacher terms only. ``--degrade F`` makes a share F of the student's input
webcam-like (``training.degrade``) while the teacher's targets stay the clean images'.
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceapp.model import TowerConfig, build_tower

from .data import (
    PACKED_TEACHER,
    BatchSource,
    FaceSet,
    PKSampler,
    UnlabelledSampler,
    attach_teacher,
    center_teacher,
    load_faceset,
    load_unlabelled_faces,
    split_holdout,
    use_packed_teacher,
)
from .degrade import DegradeConfig, WebcamDegrader
from .engine import (
    embed_crops,
    holdout_pairs,
    init_distributed,
    kept_weights,
    precision_ran,
    pair_accuracy,
    resolve_device,
    train_step,
)
from .losses import CosFaceLoss, TripletLoss, class_centres, make_miner
from .prepare import load_datasets


@dataclass
class TrainConfig:
    data: str | list[str]  # a prepared .npz, or the parts of a packed one
    out: str
    teacher: str | None = None  # teacher .npz, or "packed": the encodings packed with the data
    teacher_weight: float = 2.0
    teacher_distance_weight: float = 0.0  # relational term: batch distances matched to dlib's
    val_pairs: str | None = None
    val_images: str | None = None
    holdout_identities: int = 500
    epochs: int = 10
    steps_per_epoch: int = 0  # 0: one pass over the training images
    p: int = 32
    k: int = 4
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    margin: float = 0.2
    miner: str = "batch-hard"
    soft_margin: bool = False
    widths: tuple[int, ...] = TowerConfig.widths
    blocks: tuple[int, ...] = TowerConfig.blocks
    dim: int = 128
    seed: int = 0
    device: str = "auto"
    detector_model: str | None = None  # YuNet .onnx for preparing validation pairs
    threads: int = 0
    amp: bool = True
    max_minutes: float = 0.0  # 0: no limit; else stop (resumably) after this much training time
    fit_minutes: float = 0.0  # >0: time a few steps first and choose the epochs that fit this budget
    limit_images: int = 0  # 0: all; for smoke runs
    init: str | None = None  # start from these weights (best.pt or checkpoint.pt) with a fresh optimiser and schedule
    ema_decay: float = 0.0  # >0: validate and keep an exponential moving average of the weights
    cosface_weight: float = 0.0  # >0: add a CosFace term over all training identities, its head imprinted
    cosface_margin: float = 0.25
    cosface_scale: float = 30.0
    val_mirror: bool = True  # validate on mirror-averaged encodings, as export ships them (--no-val-mirror: single pass)
    unlabelled: str | None = None  # faces without identities (prepare --unlabelled, or a glob of packed parts): teacher terms only
    unlabelled_teacher: str | None = None  # their teacher .npz, or "packed"
    unlabelled_batch: int = 64  # unlabelled faces added to every step
    degrade: float = 0.0  # share of the student's input made webcam-like (training.degrade); 0: off
    degrade_face_px: tuple[int, ...] = (24, 64)  # the face widths a degraded face is shrunk to
    extra: dict = field(default_factory=dict)


@dataclass
class SchedulePlan:
    """The schedule's length, read at every step, so a fitted run can re-plan it mid-run."""

    total_steps: int


HEAD_LR_FACTOR = 5.0  # the CosFace head's identity vectors move faster than the tower's weights


def build_optimizer(model: torch.nn.Module, config: TrainConfig, total_steps: int | SchedulePlan,
                    head: torch.nn.Module | None = None):
    """AdamW without decay on norms/biases/PReLU, linear warm-up then cosine to zero at
    ``total_steps`` (a ``SchedulePlan`` may be changed later; the cosine follows it). A
    classification ``head`` gets its own group, without decay, at HEAD_LR_FACTOR x the rate."""
    plan = total_steps if isinstance(total_steps, SchedulePlan) else SchedulePlan(total_steps)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if head is not None:
        groups.append({"params": list(head.parameters()), "weight_decay": 0.0, "lr": config.lr * HEAD_LR_FACTOR})
    optimizer = torch.optim.AdamW(groups, lr=config.lr)

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, plan.total_steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def make_ema(model: torch.nn.Module, decay: float):
    """An exponential moving average of the weights and BatchNorm statistics, or None.

    Averaging the last few thousand steps smooths out the step-to-step noise of small P x K
    batches, which matters most when validation picks one epoch's weights to ship.
    """
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def load_unlabelled(config: TrainConfig) -> tuple[FaceSet | None, dict]:
    """The run's faces without identities (``training.data.load_unlabelled_faces``), or None."""
    if not config.unlabelled:
        return None, {}
    return load_unlabelled_faces(config.unlabelled, config.unlabelled_teacher)


def load_training_data(config: TrainConfig, *also_centred: FaceSet) -> tuple[FaceSet, FaceSet, dict]:
    """Training and held-out faces; ``also_centred`` sets (the unlabelled faces) get their
    teacher encodings centred on the same training mean."""
    paths = [config.data] if isinstance(config.data, str) else list(config.data)
    arrays = load_datasets([Path(p) for p in paths])
    faces = load_faceset(arrays)
    info: dict = {"prepared_images": len(faces)}
    if config.limit_images:
        keep = np.arange(min(config.limit_images, len(faces)))
        faces, arrays = faces.subset(keep), {k: v[keep] if k != "identities" else v for k, v in arrays.items()}
    if config.teacher == PACKED_TEACHER:
        faces, missing = use_packed_teacher(faces, arrays)
        info["images_without_teacher"] = missing
    elif config.teacher:
        faces, missing = attach_teacher(faces, Path(config.teacher))
        info["images_without_teacher"] = missing
    train, held = split_holdout(faces, config.holdout_identities, seed=config.seed)
    if config.teacher:
        center_teacher(train, held, *also_centred)
    info.update(train_images=len(train), train_identities=int(len(np.unique(train.labels))),
                holdout_images=len(held), holdout_identities=int(len(np.unique(held.labels))))
    return train, held, info


def prepare_lfw(config: TrainConfig):
    """LFW View 1 crops via the app's own detect + align: model selection only, never training."""
    if not (config.val_pairs and config.val_images):
        return None
    from faceapp.detect import load_detector
    from faceapp.evaluate import prepare_pair_images, read_pairs

    pairs = read_pairs(config.val_pairs)
    crops, failures = prepare_pair_images(pairs, config.val_images, load_detector(config.detector_model))
    return pairs, crops, failures


def validate(model, device, held: FaceSet, held_pairs, lfw, mirror: bool = False) -> dict:
    """Held-out pair accuracy (and LFW View 1 where given), on the encodings the app will
    compute: mirror-averaged when ``mirror``, as ``export`` ships by default."""
    from faceapp.evaluate import evaluate_pairs

    def encode(crops: np.ndarray) -> np.ndarray:
        return embed_crops(model, crops, device, mirror_average=mirror)

    result = {}
    if len(held):
        result["holdout_accuracy"] = pair_accuracy(encode(held.crops), *held_pairs)
    if lfw is not None:
        pairs, crops, failures = lfw
        report = evaluate_pairs(pairs, crops, encode, len(failures))
        result.update(lfw_view1_accuracy=report.accuracy, lfw_view1_std=report.accuracy_std, lfw_view1_auc=report.auc)
    return result


def fit_epochs(config: TrainConfig, model: torch.nn.Module, batches: BatchSource, labels: np.ndarray,
               triplet_loss: TripletLoss, device: torch.device, steps_per_epoch: int, validate_once,
               unlabelled_batches=None) -> int:
    """How many epochs fit ``config.fit_minutes``: a few real steps on a throwaway copy of the
    model are timed (the run's own model, sampler and random streams are untouched), plus
    one validation pass, which every epoch ends with."""
    probe = copy.deepcopy(model)
    optimizer, _ = build_optimizer(probe, config, 1)
    ema = make_ema(probe, config.ema_decay)
    sampler = PKSampler(labels, config.p, config.k, seed=config.seed + 7919)
    generator = torch.Generator().manual_seed(config.seed + 7919)
    times = []
    for _ in range(25):
        started = time.perf_counter()
        images, batch_labels, teacher = batches(sampler.batch(), generator)
        extra = unlabelled_batches(generator) if unlabelled_batches is not None else None
        train_step(probe, images, batch_labels, teacher, triplet_loss, config.teacher_weight, optimizer, device,
                   config.amp, config.teacher_distance_weight, unlabelled=extra)
        if ema is not None:
            ema.update_parameters(probe)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    step_seconds = float(np.median(times[5:]))  # the first steps pay for warm-up and autotuning
    started = time.perf_counter()
    validate_once(ema.module if ema is not None else probe)
    epoch_seconds = step_seconds * steps_per_epoch + (time.perf_counter() - started)
    epochs = max(1, int(config.fit_minutes * 60 / epoch_seconds))
    print(f"fit: {step_seconds * 1000:.1f} ms/step, about {epoch_seconds:.1f} s/epoch with validation -> "
          f"{epochs} epochs in {config.fit_minutes} min", flush=True)
    return epochs


def make_classifier(config: TrainConfig, model: torch.nn.Module, train_set: FaceSet, device: torch.device,
                    imprint: bool = True, head: torch.nn.Module | None = None):
    """The CosFace head and ``classify(embeddings, labels) -> loss`` for train_step, or (None,
    None) when the term is off. A new head is imprinted from ``model``'s encodings of the
    training faces (one pass, no augmentation); a resumed run restores its trained head."""
    if config.cosface_weight <= 0:
        return None, None
    classes, targets = np.unique(train_set.labels, return_inverse=True)
    if head is None:
        head = CosFaceLoss(len(classes), config.dim, config.cosface_scale, config.cosface_margin).to(device)
        if imprint:
            encodings = embed_crops(model, train_set.crops, device, amp=config.amp)
            head.imprint(class_centres(encodings, targets, len(classes)))
    lookup = torch.full((int(classes.max()) + 1,), -1, dtype=torch.long, device=device)
    lookup[torch.as_tensor(classes, device=device)] = torch.arange(len(classes), device=device)

    def classify(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return head(embeddings, lookup[labels.to(device)])

    return head, classify


def head_module(head: torch.nn.Module) -> torch.nn.Module:
    return head.module if isinstance(head, torch.nn.parallel.DistributedDataParallel) else head


def save_checkpoint(path: Path, **state) -> None:
    partial = path.with_name(path.name + ".part")
    torch.save(state, partial)
    partial.replace(path)


def train(config: TrainConfig) -> dict:
    dist_info = init_distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if device.type == "cuda" and dist_info.world_size > 1:
        device = torch.device("cuda", dist_info.local_rank)
    torch.manual_seed(config.seed + dist_info.rank)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    unlabelled_set, unlabelled_info = load_unlabelled(config)
    if unlabelled_set is not None and not config.teacher:
        raise ValueError("--unlabelled needs --teacher: the teacher terms are all that unlabelled faces train")
    train_set, held, data_info = load_training_data(config, *([unlabelled_set] if unlabelled_set is not None else []))
    data_info.update(unlabelled_info)
    held_pairs = holdout_pairs(held.labels, seed=config.seed)
    lfw = prepare_lfw(config) if dist_info.is_main else None
    if lfw is not None and lfw[2]:
        print(f"validation pairs: no face found in {len(lfw[2])} images (centre-cropped, still scored)", flush=True)
    tower_config = TowerConfig(tuple(config.widths), tuple(config.blocks), config.dim)
    model = build_tower(tower_config).to(device).to(memory_format=torch.channels_last)
    steps_per_epoch = config.steps_per_epoch or max(1, len(train_set) // (config.p * config.k * dist_info.world_size))
    triplet_loss = TripletLoss(config.margin, make_miner(config.miner, config.margin), soft=config.soft_margin)
    degrader = WebcamDegrader(DegradeConfig(fraction=config.degrade, face_px=tuple(map(float, config.degrade_face_px))))
    degrade = degrader if config.degrade > 0 else None
    batches = BatchSource(train_set, device, resident=device.type == "cuda", degrade=degrade)
    unlabelled_source = unlabelled_sampler = None
    if unlabelled_set is not None:
        unlabelled_source = BatchSource(unlabelled_set, device, resident=device.type == "cuda", degrade=degrade)
        unlabelled_sampler = UnlabelledSampler(len(unlabelled_set), config.unlabelled_batch, config.seed, dist_info.rank)

    def unlabelled_batches(generator: torch.Generator, sampler: UnlabelledSampler):
        """(images, teacher rows) of the next unlabelled faces that ``sampler`` draws."""
        images, _, teacher = unlabelled_source(sampler.batch(), generator)
        return images, teacher
    if config.init:
        init_state = torch.load(config.init, map_location=device, weights_only=False)
        model.load_state_dict(kept_weights(init_state))  # a checkpoint.pt with an EMA gives the EMA

    checkpoint_path = out / "checkpoint.pt"
    state = torch.load(checkpoint_path, map_location=device, weights_only=False) if checkpoint_path.exists() else None
    head, classify = make_classifier(config, model, train_set, device, imprint=state is None)
    epochs = config.epochs
    if state is not None:
        if config.fit_minutes:
            epochs = state.get("epochs", epochs)  # a fitted run resumes with the schedule it chose
    elif config.fit_minutes:
        epochs = fit_epochs(config, model, batches, train_set.labels, triplet_loss, device, steps_per_epoch,
                            lambda m: validate(m, device, held, held_pairs, lfw, config.val_mirror),
                            None if unlabelled_set is None else functools.partial(
                                unlabelled_batches, sampler=UnlabelledSampler(len(unlabelled_set), config.unlabelled_batch,
                                                                              config.seed + 7919)))
    plan = SchedulePlan(steps_per_epoch * epochs)
    optimizer, scheduler = build_optimizer(model, config, plan, head)
    sampler = PKSampler(train_set.labels, config.p, config.k, config.seed, dist_info.rank)
    generator = torch.Generator().manual_seed(config.seed + 1000 * dist_info.rank)
    ema = make_ema(model, config.ema_decay)

    start_epoch, best, trained_seconds = 0, -1.0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        if head is not None:
            head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.restore(state["sampler"])
        if unlabelled_sampler is not None and "unlabelled_sampler" in state:
            unlabelled_sampler.restore(state["unlabelled_sampler"])
        generator.set_state(state["generator"])
        start_epoch, best, trained_seconds = state["epoch"], state["best"], state["trained_seconds"]
        print(f"resumed from {checkpoint_path} at epoch {start_epoch}", flush=True)
    train_model = model
    if dist_info.world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if head is not None:
            head, classify = make_classifier(config, model, train_set, device, head=torch.nn.parallel.DistributedDataParallel(head, device_ids=ids))

    run_config = {**asdict(config), "data_info": data_info, "steps_per_epoch": steps_per_epoch, "epochs_run": epochs,
                  "precision_ran": precision_ran(device, config.amp)}
    if dist_info.is_main:
        (out / "config.json").write_text(json.dumps(run_config, indent=2))
        print(f"training on {device} ({dist_info.world_size} process(es)): {data_info}, {steps_per_epoch} steps/epoch", flush=True)
    deadline = config.max_minutes * 60 if config.max_minutes else float("inf")
    # The calibration in fit_epochs can run under different contention than the run itself (other
    # processes still starting on a shared GPU), so a fresh fitted run re-plans from its real first
    # epoch. Only rank 0 validates, so with several processes the epoch times differ by rank: re-plan
    # only when world_size == 1, keeping the ranks on one schedule.
    refit = config.fit_minutes > 0 and state is None and dist_info.world_size == 1
    for epoch in itertools.count(start_epoch):  # not range(): a refit changes `epochs`
        if epoch >= epochs:
            break
        if trained_seconds >= deadline:
            print(f"time budget of {config.max_minutes} min spent; resume later with the same command", flush=True)
            break
        epoch_started = time.monotonic()
        totals = np.zeros(6)
        for step in range(steps_per_epoch):
            index = sampler.batch()
            images, labels, teacher = batches(index, generator)
            extra = unlabelled_batches(generator, unlabelled_sampler) if unlabelled_sampler is not None else None
            result = train_step(train_model, images, labels, teacher, triplet_loss, config.teacher_weight, optimizer, device,
                                config.amp, config.teacher_distance_weight, classify, config.cosface_weight, unlabelled=extra)
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            totals += [result.loss, result.triplet, result.teacher, result.active_fraction, result.teacher_distance,
                       result.classifier]
            if dist_info.is_main and step % 50 == 0:
                rate = (step + 1) * len(index) / (time.monotonic() - epoch_started)
                print(f"epoch {epoch + 1} step {step}/{steps_per_epoch} loss {result.loss:.4f} triplet {result.triplet:.4f} "
                      f"teacher {result.teacher:.4f} distance {result.teacher_distance:.4f} cosface {result.classifier:.3f} "
                      f"active {result.active_fraction:.2f} {rate:.0f} img/s", flush=True)
        seconds = time.monotonic() - epoch_started
        trained_seconds += seconds
        if not dist_info.is_main:
            continue
        shipped = ema.module if ema is not None else model  # the weights validated, kept and exported
        metrics = validate(shipped, device, held, held_pairs, lfw, config.val_mirror)
        if refit and epoch == start_epoch:
            measured = time.monotonic() - epoch_started
            epochs = max(epoch + 1, int(config.fit_minutes * 60 / measured))
            plan.total_steps = steps_per_epoch * epochs  # the cosine now anneals to zero at the new end
            run_config["epochs_run"] = epochs
            (out / "config.json").write_text(json.dumps(run_config, indent=2))
            print(f"refit: epoch {epoch + 1} took {measured:.1f} s with validation -> {epochs} epochs in "
                  f"{config.fit_minutes} min", flush=True)
        means = totals / steps_per_epoch
        entry = {"epoch": epoch + 1, "loss": means[0], "triplet": means[1], "teacher": means[2], "active_fraction": means[3],
                 "teacher_distance": means[4], "cosface": means[5],
                 "lr": scheduler.get_last_lr()[0], "epoch_seconds": seconds, "trained_seconds": trained_seconds,
                 "images_per_second": steps_per_epoch * config.p * config.k / seconds, **metrics}
        with open(out / "log.jsonl", "a") as log:
            log.write(json.dumps(entry) + "\n")
        print(json.dumps(entry), flush=True)
        score = metrics.get("lfw_view1_accuracy", metrics.get("holdout_accuracy", 0.0))
        if score > best:
            best = score
            save_checkpoint(out / "best.pt", model=shipped.state_dict(), tower=tower_config.to_dict(), epoch=epoch + 1, metrics=entry)
        save_checkpoint(checkpoint_path, model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                        sampler=sampler.state(), generator=generator.get_state(), epoch=epoch + 1, best=best,
                        trained_seconds=trained_seconds, tower=tower_config.to_dict(), epochs=epochs,
                        **({"ema": ema.state_dict()} if ema is not None else {}),
                        **({"unlabelled_sampler": unlabelled_sampler.state()} if unlabelled_sampler is not None else {}),
                        **({"head": head_module(head).state_dict()} if head is not None else {}))
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {"best": best, "out": str(out)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig(data="", out="")
    parser.add_argument("data", nargs="+", help="prepared dataset (.npz from 'prepare'), or the part files of a packed one")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, config.json")
    for name, value in asdict(defaults).items():
        if name in ("data", "out", "extra"):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        elif isinstance(value, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=list(value))
        else:
            parser.add_argument(flag, type=type(value) if value is not None else str, default=value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = vars(parser.parse_args(argv))
    config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    print(json.dumps(train(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
