"""The training step, embedding for validation, and device / distributed plumbing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from faceapp.cohort import Cohort
from faceapp.evaluate import best_threshold, accuracy_at

from .data import to_tensor
from .losses import TripletLoss, teacher_cosine_loss, teacher_distance_loss


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; "cuda" without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX).

    Without it, bf16 autocast is emulated and a training step runs many times slower than
    in float32 (README, "The shipped encoder and how to rebuild it",
    ``benchmarks/bench_train_step.py``).
    """
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast: tensor cores on CUDA, AMX/AVX-512 bf16 on CPUs that have it (else off)."""
    if device.type == "cpu" and enabled:
        enabled = cpu_has_fast_bf16()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def precision_ran(device: torch.device, amp: bool) -> str:
    """What a run's arithmetic actually was, for its config and model card: ``--amp`` asks for
    bf16 autocast, which a CPU without native bf16 runs in float32 instead (``autocast``)."""
    if not amp:
        return "float32 (--no-amp)"
    if device.type == "cpu" and not cpu_has_fast_bf16():
        return "float32 (bf16 autocast asked for, but this CPU has no native bf16, so it was off)"
    return f"bf16 autocast on {device.type}"


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Distributed:
    """Join the process group when launched by ``torchrun`` (NCCL on GPUs, Gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank)


@dataclass
class StepResult:
    loss: float
    triplet: float
    teacher: float
    active_fraction: float
    teacher_distance: float = 0.0
    classifier: float = 0.0


def train_step(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    teacher: torch.Tensor | None,
    triplet_loss: TripletLoss,
    teacher_weight: float,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    amp: bool = True,
    teacher_distance_weight: float = 0.0,
    classifier: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    classifier_weight: float = 0.0,
    unlabelled: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> StepResult:
    """One optimisation step: triplet loss on mined triplets (+ the optional teacher terms, and
    ``classifier(embeddings, labels)``, a classification term such as CosFace).

    ``unlabelled`` (images, teacher encodings) are faces without identities: they go through
    the network in the same batch and count in the teacher terms only (their own cosine to
    the teacher, and their distances to every face of the batch in the relational term),
    never in the triplet or classification terms, which need to know who is who.
    """
    model.train()
    labelled = len(images)
    if unlabelled is not None:
        images = torch.cat([images, unlabelled[0].to(images.dtype)]).contiguous(memory_format=torch.channels_last)
        teacher = torch.cat([teacher, unlabelled[1]]) if teacher is not None else None
    with autocast(device, amp):
        every = model(images)
    embeddings = every[:labelled]
    triplet = triplet_loss(embeddings, labels)
    loss = triplet
    teacher_term = distance_term = torch.zeros(())
    if teacher is not None and teacher_weight > 0:
        teacher_term = teacher_cosine_loss(every, teacher)
        loss = loss + teacher_weight * teacher_term
    if teacher is not None and teacher_distance_weight > 0:
        distance_term = teacher_distance_loss(every, teacher)
        loss = loss + teacher_distance_weight * distance_term
    classifier_term = torch.zeros(())
    if classifier is not None and classifier_weight > 0:
        classifier_term = classifier(embeddings, labels)
        loss = loss + classifier_weight * classifier_term
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    stats = triplet_loss.last
    active = stats.active_fraction if stats else 0.0
    return StepResult(loss.item(), triplet.item(), teacher_term.item(), active, distance_term.item(), classifier_term.item())


def kept_weights(state: dict) -> dict:
    """A checkpoint's weights as validated: the EMA where the run kept one (best.pt already is).

    A plain state dict (the shipped ``assets/faceapp-encoder.pt``) is taken as it is, so
    ``--init`` can fine-tune the shipped encoder.
    """
    if "ema" in state:
        return {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    return state.get("model", state)


@torch.inference_mode()
def embed_crops(model: nn.Module, crops: np.ndarray, device: torch.device, batch_size: int = 256, amp: bool = False,
                mirror_average: bool = False) -> np.ndarray:
    """(N, 112, 112, 3) uint8 crops -> (N, D) float32 unit encodings; with ``mirror_average``
    exactly as the app computes them for a card that says so (faceapp.embed)."""
    from faceapp.embed import average_mirrors, with_mirrors

    model.eval()
    out = []
    for start in range(0, len(crops), batch_size):
        chunk = crops[start : start + batch_size]
        batch = to_tensor(with_mirrors(chunk) if mirror_average else chunk, device)
        with autocast(device, amp):
            encodings = model(batch).float().cpu().numpy()
        out.append(average_mirrors(encodings) if mirror_average else encodings)
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def holdout_pairs(labels: np.ndarray, impostors_per_genuine: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All genuine pairs of a held-out set and as many random impostor pairs: (i, j, same)."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    gi, gj = i[same], j[same]
    n_imp = len(gi) * impostors_per_genuine
    ii = rng.integers(0, len(labels), n_imp * 2)
    jj = rng.integers(0, len(labels), n_imp * 2)
    diff = labels[ii] != labels[jj]
    ii, jj = ii[diff][:n_imp], jj[diff][:n_imp]
    return np.concatenate([gi, ii]), np.concatenate([gj, jj]), np.concatenate([np.ones(len(gi), bool), np.zeros(len(ii), bool)])


def pair_accuracy(encodings: np.ndarray, i: np.ndarray, j: np.ndarray, same: np.ndarray) -> float:
    """Accuracy at the best single threshold (a quick validation number, not a protocol score)."""
    distances = np.linalg.norm(encodings[i] - encodings[j], axis=1)
    return accuracy_at(distances, same, best_threshold(distances, same))


def impostor_distances(encodings: np.ndarray, labels: np.ndarray, chunk: int = 2048,
                       cohort: Cohort | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every genuine and every impostor distance among the given encodings (upper triangle).

    With a ``cohort`` every ordered pair counts once, its distance adjusted by the crowding of
    the face judged (the row), as the app judges a face against an enrolled one."""
    genuine, impostor = [], []
    crowding = cohort.crowding(encodings) if cohort is not None else None
    for start in range(0, len(encodings), chunk):
        block = encodings[start : start + chunk]
        d = np.sqrt(np.clip(2 - 2 * block @ encodings.T, 0, None))
        rows = np.arange(start, start + len(block))[:, None]
        counted = np.arange(len(encodings))[None, :] > rows
        if cohort is not None:
            d = cohort.adjust(d, crowding[start : start + len(block), None])
            counted = np.arange(len(encodings))[None, :] != rows
        same = labels[start : start + chunk, None] == labels[None, :]
        genuine.append(d[counted & same])
        impostor.append(d[counted & ~same])
    return np.concatenate(genuine), np.concatenate(impostor)


def rank1_identification(encodings: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """Rank-1 accuracy with each identity's first image as its gallery template and every
    other image as a probe: the 1:N task the app performs, on people never trained on."""
    _, first = np.unique(labels, return_index=True)
    gallery = np.zeros(len(labels), bool)
    gallery[first] = True
    probes = ~gallery
    scores = encodings[probes] @ encodings[gallery].T
    predicted = labels[gallery][scores.argmax(1)]
    return float(np.mean(predicted == labels[probes])), int(probes.sum())
