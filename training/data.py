"""Prepared-face datasets, held-out splits, a P x K identity sampler and face augmentation."""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


@dataclass
class FaceSet:
    """Aligned crops in memory: (N, 112, 112, 3) uint8, integer labels, provenance paths."""

    crops: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    teacher: np.ndarray | None = None  # (N, 128) float32 teacher encodings, or None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "FaceSet":
        teacher = None if self.teacher is None else self.teacher[index]
        return FaceSet(self.crops[index], self.labels[index], self.paths[index], teacher)


def load_faceset(arrays: dict[str, np.ndarray]) -> FaceSet:
    return FaceSet(arrays["crops"], arrays["labels"].astype(np.int64), arrays["paths"])


def teacher_rows(paths: np.ndarray, teacher_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """The teacher file's encodings joined to ``paths`` by provenance path: (N, D) float32
    (zeros where a path has none) and the mask of paths that have one."""
    with np.load(teacher_file, allow_pickle=False) as data:
        index = {str(p): i for i, p in enumerate(data["paths"])}
        encodings = data["encodings"].astype(np.float32)
    rows = np.array([index.get(str(p), -1) for p in paths], dtype=np.int64)
    found = rows >= 0
    joined = np.zeros((len(paths), encodings.shape[1]), np.float32)
    joined[found] = encodings[rows[found]]
    return joined, found


def _with_teacher(faces: FaceSet, encodings: np.ndarray, found: np.ndarray) -> tuple[FaceSet, int]:
    """Keep the images that have a teacher encoding, with it; report how many were dropped."""
    joined = faces.subset(np.nonzero(found)[0])
    joined.teacher = encodings[found].astype(np.float32)
    return joined, int((~found).sum())


def attach_teacher(faces: FaceSet, teacher_file: Path) -> tuple[FaceSet, int]:
    """Join teacher encodings by provenance path; images without one are dropped.

    Returns the joined set and how many images had no teacher encoding.
    """
    return _with_teacher(faces, *teacher_rows(faces.paths, teacher_file))


PACKED_TEACHER = "packed"  # --teacher value: use the encodings packed with the data (training.pack)


def use_packed_teacher(faces: FaceSet, arrays: dict[str, np.ndarray]) -> tuple[FaceSet, int]:
    """Take the teacher encodings that ``training.pack`` stored beside the crops; images that
    had none are dropped, as ``attach_teacher`` does. Returns the set and the dropped count."""
    if "teacher" not in arrays:
        raise ValueError("--teacher packed, but the data holds no teacher encodings: pack it with --teacher")
    return _with_teacher(faces, arrays["teacher"], arrays["has_teacher"].astype(bool))


def center_teacher(train: FaceSet, *others: FaceSet) -> np.ndarray:
    """Subtract the training set's mean teacher encoding from every set (in place).

    dlib's encodings share a large common component: the mean encoding alone points almost
    the way a typical one does (README, "The shipped encoder", ``benchmarks/bench_teacher.py``),
    so a cosine loss on raw encodings is almost satisfied by predicting the mean. Centred, the
    direction is the part that tells people apart. The norm is kept: the cosine term ignores
    it and the distance term needs dlib's own scale.
    """
    mean = train.teacher.mean(0)
    for faces in (train, *others):
        faces.teacher = faces.teacher - mean
    return mean


def load_unlabelled_faces(data: str, teacher: str | None) -> tuple[FaceSet, dict]:
    """Faces without identities (``prepare --unlabelled``: a prepared .npz, or a glob of its
    packed parts, quoted so that it arrives whole) with their teacher encodings, uncentred:
    from ``teacher`` (.npz), or ``"packed"`` for those packed beside them."""
    from .prepare import UNLABELLED, load_datasets

    if not teacher:
        raise ValueError("--unlabelled needs --unlabelled-teacher: those faces can only teach through the teacher")
    arrays = load_datasets([Path(p) for p in sorted(glob.glob(data))] or [Path(data)])
    faces = load_faceset(arrays)
    if (faces.labels != UNLABELLED).any():
        raise ValueError(f"{data} holds identity labels; prepare unlabelled faces with 'prepare --unlabelled'")
    if teacher == PACKED_TEACHER:
        faces, missing = use_packed_teacher(faces, arrays)
    else:
        faces, missing = attach_teacher(faces, Path(teacher))
    return faces, {"unlabelled_images": len(faces), "unlabelled_without_teacher": missing}


def split_holdout(faces: FaceSet, holdout_identities: int, prefix: str = "celeba-aligned/", seed: int = 0) -> tuple[FaceSet, FaceSet]:
    """Hold out whole identities (from the dataset with the most identities) for validation
    and threshold calibration; they are never trained on."""
    candidates = np.unique(faces.labels[np.char.startswith(faces.paths.astype(str), prefix)])
    rng = np.random.default_rng(seed)
    held = rng.choice(candidates, size=min(holdout_identities, len(candidates)), replace=False)
    is_held = np.isin(faces.labels, held)
    return faces.subset(np.nonzero(~is_held)[0]), faces.subset(np.nonzero(is_held)[0])


class PKSampler:
    """Batches of P identities x K images each, so every anchor has positives and negatives.

    Identities with fewer than K images contribute all they have (sampled with replacement
    up to K only when ``min_images`` allows it); identities with a single image are skipped.
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, seed: int = 0, rank: int = 0) -> None:
        if p < 2 or k < 2:
            raise ValueError("a P x K batch needs P >= 2 identities and K >= 2 images each")
        self.by_label = {
            label: np.nonzero(labels == label)[0] for label in np.unique(labels)
        }
        self.by_label = {label: idx for label, idx in self.by_label.items() if len(idx) >= 2}
        if len(self.by_label) < p:
            raise ValueError(f"only {len(self.by_label)} identities have 2+ images; P={p} needs more")
        self.labels_list = np.array(sorted(self.by_label))
        self.p, self.k = p, k
        self.rng = np.random.default_rng([seed, rank])

    def batch(self) -> np.ndarray:
        chosen = self.rng.choice(self.labels_list, size=self.p, replace=False)
        parts = []
        for label in chosen:
            pool = self.by_label[label]
            parts.append(self.rng.choice(pool, size=self.k, replace=len(pool) < self.k))
        return np.concatenate(parts)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class UnlabelledSampler:
    """Batches of faces drawn without identities (for the teacher terms only), seeded and
    resumable like ``PKSampler``."""

    def __init__(self, count: int, batch_size: int, seed: int = 0, rank: int = 0) -> None:
        if count < 2 or batch_size < 1:
            raise ValueError(f"need 2+ unlabelled faces and a batch of 1+, got {count} and {batch_size}")
        self.count, self.batch_size = count, min(batch_size, count)
        self.rng = np.random.default_rng([seed, rank, 1])

    def batch(self) -> np.ndarray:
        return self.rng.choice(self.count, size=self.batch_size, replace=False)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def to_tensor(crops: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 255], channels-last in memory.

    ``crops`` may already be a uint8 tensor (crops kept resident on the GPU during training).
    """
    if isinstance(crops, np.ndarray):
        crops = torch.from_numpy(np.ascontiguousarray(crops))
    tensor = crops.to(device).permute(0, 3, 1, 2).float()
    return tensor.contiguous(memory_format=torch.channels_last)


def augment(images: torch.Tensor, generator: torch.Generator, shift: int = 6) -> torch.Tensor:
    """Face-appropriate augmentation on a (N, 3, H, W) batch, on whatever device it lives.

    Horizontal flip, crop jitter (translation up to ``shift`` pixels),
    brightness/contrast/saturation, occasional blur and occasional grayscale. No vertical
    flips or large rotations: aligned faces never look like that.
    """
    n, _, h, w = images.shape
    dev = images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev)

    # A private NCHW copy: the per-sample ops below are faster on it, and the in-place flip
    # must never write into the caller's tensor (.contiguous() returns it as is when NCHW).
    images = images.clone(memory_format=torch.contiguous_format)
    flip = torch.nonzero(rand(n) < 0.5).squeeze(1)
    images[flip] = images[flip].flip(3)
    # Crop jitter: integer shifts of up to ``shift`` px from a reflect-padded batch (an index
    # gather is far cheaper on a CPU than a batched affine warp, and alignment fixes scale).
    padded = F.pad(images, (shift, shift, shift, shift), mode="reflect")
    offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator).to(dev)
    # One gather for the whole batch (a per-image slicing loop costs a kernel per face on a GPU).
    rows = (offsets[:, 0, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (offsets[:, 1, None] + torch.arange(w, device=dev))[:, None, None, :]
    batch = torch.arange(n, device=dev)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=dev)[None, :, None, None]
    images = padded[batch, channel, rows, cols]
    # Colour: contrast around the per-image mean, brightness offset, saturation.
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (0.7 + 0.6 * rand(n))[:, None, None, None]
    brightness = ((rand(n) - 0.5) * 60)[:, None, None, None]
    images = (images - mean) * contrast + mean + brightness
    gray = images.mean(dim=1, keepdim=True)
    saturation = (0.6 + 0.8 * rand(n))[:, None, None, None]
    saturation = torch.where((rand(n) < 0.1)[:, None, None, None], torch.zeros_like(saturation), saturation)
    images = gray + (images - gray) * saturation
    blur = torch.nonzero(rand(n) < 0.15).squeeze(1)
    if len(blur):
        images[blur] = F.avg_pool2d(images[blur], 3, stride=1, padding=1, count_include_pad=False)
    return images.clamp(0, 255).contiguous(memory_format=torch.channels_last)


class BatchSource:
    """Turns a P x K index batch into (augmented images, labels, teacher rows) on ``device``;
    ``degrade`` (such as ``training.degrade.WebcamDegrader``) then makes some of them webcam-like.

    With ``resident`` the crops, labels and teacher rows are copied to the device once (the
    full training set's raw crops fit in a GPU's memory; their size is in README's rebuild
    commands), so a GPU step gathers its batch there instead of copying pixels from the host
    every step.
    """

    def __init__(self, faces: FaceSet, device: torch.device, resident: bool,
                 degrade: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> None:
        self.device, self.resident, self.degrade = device, resident, degrade
        where = device if resident else "cpu"
        self.crops = torch.from_numpy(faces.crops).to(where) if resident else faces.crops
        self.labels = torch.from_numpy(faces.labels).to(where)
        self.teacher = torch.from_numpy(faces.teacher).to(where) if faces.teacher is not None else None

    def __call__(self, index: np.ndarray, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        rows = torch.from_numpy(index).to(self.device if self.resident else "cpu")
        crops = self.crops[rows] if self.resident else self.crops[index]
        images = augment(to_tensor(crops, self.device), generator)
        if self.degrade is not None:  # the student's input only: the teacher rows are the clean image's
            images = self.degrade(images, generator)
        teacher = self.teacher[rows].to(self.device) if self.teacher is not None else None
        return images, self.labels[rows].to(self.device), teacher
