"""Encoder: loads the tower's weights + JSON model card, picks the device and runtime, embeds in batches.

On a CPU the encoder runs through ONNX Runtime when the card ships an ONNX copy of the
network: it computes the same encodings faster than torch does on a CPU (README,
"Benchmarks": ``benchmarks/bench_embed.py`` times both). torch runs it on a GPU, or
wherever there is no ONNX copy.

Where the card says ``mirror_average``, a face's encoding is the normalised sum of the
encodings of the crop and of its mirror image: one batch of 2N through the network, a
second image per face bought for accuracy on LFW View 1 (what it costs and gains: README,
"The shipped encoder and how to rebuild it"; the card's thresholds are calibrated on
exactly these encodings).

Where the card lists a ``quality`` head, the encoder also gives each face a learned quality
(:class:`QualityHead`): a tiny network over what the tower computes anyway for the face and
its mirror image, fitted to predict how close the encoding lands to a clean shot's.

Where the card lists a ``cohort``, the encoder loads it (:class:`faceapp.cohort.Cohort`): the
application layer judges every gallery of this model with it, as the card's thresholds were.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cohort import load_cohort
from .errors import ModelError
from .images import file_sha256

CARD_SUFFIX = ".json"


@dataclass(frozen=True)
class ModelCard:
    """What the app needs from the card; the full JSON stays available as ``raw``."""

    model_id: str
    weights_path: Path
    sha256: str
    dim: int
    input_size: int
    tower: dict
    thresholds: dict[str, float]  # FAR level ("0.01", "0.001", ...) -> distance
    default_level: str
    raw: dict
    onnx_path: Path | None = None  # the same network for ONNX Runtime, where the card lists one
    onnx_sha256: str | None = None
    mirror_average: bool = False  # encode each face and its mirror image, and average
    # Open-set (1:N) levels, where the card has them: FPIR level ("0.01", ...) -> gallery size ->
    # distance (faceapp.decide), the default level and the best-to-runner-up margin it asks for.
    fpir_thresholds: dict[str, dict[int, float]] = field(default_factory=dict)
    default_fpir: str | None = None
    min_margin: float = 0.0
    quality: "QualityCard | None" = None  # the learned quality head, where the card lists one
    cohort: "CohortCard | None" = None  # the cohort its thresholds were calibrated with, where it lists one

    @property
    def default_threshold(self) -> float:
        return self.thresholds[self.default_level]


def read_card(card_path: str | Path) -> ModelCard:
    """Parse and sanity-check a model card; the weights path is resolved next to the card."""
    card_path = Path(card_path)
    if card_path.is_dir():
        raise ModelError(f"{card_path}: is a folder; give the model card (a {CARD_SUFFIX} file) with --model or in Settings")
    if card_path.suffix != CARD_SUFFIX:  # allow pointing at the weights file
        card_path = card_path.with_suffix(CARD_SUFFIX)
    try:
        raw = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"model card not found: {card_path} (choose another with --model or in Settings, or reinstall faceapp's assets/)") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {card_path} is damaged: {exc}") from None
    try:
        return ModelCard(
            model_id=str(raw["model_id"]),
            weights_path=card_path.parent / raw["weights"]["file"],
            sha256=str(raw["weights"]["sha256"]),
            dim=int(raw["embedding"]["dim"]),
            input_size=int(raw["input"]["size"]),
            tower=dict(raw["architecture"]["config"]),
            thresholds={str(k): float(v) for k, v in raw["thresholds"]["by_far"].items()},
            default_level=str(raw["thresholds"]["default_far"]),
            raw=raw,
            onnx_path=card_path.parent / raw["onnx"]["file"] if raw.get("onnx") else None,
            onnx_sha256=str(raw["onnx"]["sha256"]) if raw.get("onnx") else None,
            mirror_average=bool(raw["embedding"].get("mirror_average", False)),
            quality=_quality_card(card_path, raw.get("quality")),
            cohort=_cohort_card(card_path, raw.get("cohort")),
            **_open_set_fields(raw["thresholds"].get("open_set")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model card {card_path} lacks a required field ({exc})") from None


def _open_set_fields(open_set: dict | None) -> dict:
    """The card's open-set levels as ModelCard fields; a card without them (made before they
    existed) gives none, and identification then uses the 1:1 threshold alone."""
    if not open_set:
        return {}
    levels = {str(level): {int(size): float(t) for size, t in by_size.items()}
              for level, by_size in open_set["by_fpir"].items()}
    default = str(open_set["default_fpir"])
    if default not in levels:
        raise ValueError(f"default_fpir {default} is not one of its levels")
    return {"fpir_thresholds": levels, "default_fpir": default, "min_margin": float(open_set.get("min_margin", 0.0))}


@dataclass(frozen=True)
class QualityCard:
    """The card's ``quality`` entry: the head's file and its cut-offs (calibrated on held-out people)."""

    path: Path
    sha256: str
    enroll_min: float
    judge_min: float
    enforce: bool = False  # whether the app refuses enrollment shots and names below the cut-offs


def _quality_card(card_path: Path, entry: dict | None) -> QualityCard | None:
    """The card's quality head, where it lists one (the Encoder uses it only with mirror averaging)."""
    if not entry:
        return None
    cutoffs = entry["cutoffs"]
    return QualityCard(card_path.parent / entry["file"], str(entry["sha256"]), float(cutoffs["enroll"]), float(cutoffs["judge"]),
                       bool(entry.get("enforce", False)))


@dataclass(frozen=True)
class CohortCard:
    """The card's ``cohort`` entry: the file of other people's encodings and how it is used."""

    path: Path
    sha256: str
    k: int
    reference: float


def _cohort_card(card_path: Path, entry: dict | None) -> CohortCard | None:
    if not entry:
        return None
    return CohortCard(card_path.parent / entry["file"], str(entry["sha256"]), int(entry["k"]), float(entry["reference"]))


def tanh_mlp(x: np.ndarray, mean: np.ndarray, std: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
             b2: float) -> np.ndarray:
    """The quality head's network: standardise, one tanh hidden layer, one linear output
    (``training/quality_head.py`` fits it and runs its candidates through this too)."""
    hidden = np.tanh(((x - mean) / std) @ w1 + b1)
    return hidden @ w2 + b2


QUALITY_INPUTS = ["mirror_agreement", "log_prenorm_norm_crop", "log_prenorm_norm_mirror"]
PRENORM_OUTPUT = "prenorm_norm"  # the ONNX copy's second output: each image's norm before L2 normalisation


class QualityHead:
    """``head(agreement, norm_crop, norm_mirror)`` -> (N,) learned quality: a one-hidden-layer tanh
    network over three numbers per face that the tower computes anyway, the cosine between the
    crop's and its mirror's encodings and the norms of their pre-normalisation outputs.

    Why these: a face the network reads well gives a large, confident pre-normalisation
    output that agrees with its mirror image's; a blurred, tiny, dark or covered face gives a
    small one that does not (``training/quality_head.py`` measures this against the hand-made
    measures). Fitted on training people only, on webcam-degraded copies of their photos; the
    output is a predicted cosine between the face's encoding and the teacher's (dlib, centred)
    encoding of the clean photo: higher is better, and it ranks faces, it is no probability."""

    def __init__(self, card: QualityCard) -> None:
        _check_file(card.path, card.sha256, "quality head")
        try:
            raw = json.loads(card.path.read_text())
            if raw["inputs"] != QUALITY_INPUTS:
                raise ValueError(f"inputs {raw['inputs']} are not {QUALITY_INPUTS}")
            self.mean, self.std = (np.asarray(raw[k], np.float64).reshape(len(QUALITY_INPUTS)) for k in ("mean", "std"))
            self.w1 = np.asarray(raw["w1"], np.float64)
            self.b1 = np.asarray(raw["b1"], np.float64).reshape(self.w1.shape[1])
            self.w2 = np.asarray(raw["w2"], np.float64).reshape(self.w1.shape[1])
            self.b2 = float(raw["b2"])
            if self.w1.shape[0] != len(QUALITY_INPUTS) or not all(np.isfinite(a).all() for a in (self.w1, self.b1, self.w2, self.std)):
                raise ValueError("weights of the wrong shape or not finite")
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ModelError(f"quality head {card.path} is damaged: {exc}") from None
        self.card = card

    def __call__(self, agreement: np.ndarray, norm_crop: np.ndarray, norm_mirror: np.ndarray) -> np.ndarray:
        x = np.stack([agreement, np.log(np.maximum(norm_crop, 1e-12)), np.log(np.maximum(norm_mirror, 1e-12))], 1)
        return tanh_mlp(x, self.mean, self.std, self.w1, self.b1, self.w2, self.b2).astype(np.float32)

    def of_mirrored(self, units: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Quality of each face from the unit encodings and pre-normalisation norms of
        ``with_mirrors(crops)`` (2N rows)."""
        half = len(units) // 2
        return self((units[:half] * units[half:]).sum(1), norms[:half], norms[half:])


def with_mirrors(crops: np.ndarray) -> np.ndarray:
    """(N, H, W, C) crops followed by their N left-right mirror images: one batch of 2N."""
    return np.concatenate([crops, crops[:, :, ::-1]])


def average_mirrors(encodings: np.ndarray) -> np.ndarray:
    """Encodings of ``with_mirrors(crops)`` -> (N, D): each face's two encodings summed, L2-normalised."""
    half = len(encodings) // 2
    summed = encodings[:half] + encodings[half:]
    return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)


def pick_device(name: str = "auto") -> str:
    """"auto": CUDA when torch sees a GPU, else CPU. Asking for CUDA without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ModelError(f"unknown device {name!r}: use cpu, cuda or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device cuda was asked for, but torch sees no CUDA GPU; choose the CPU (--device cpu, or Settings in the window)")
    return name


RUNTIMES = ("auto", "torch", "onnx")


def _check_file(path: Path, sha256: str, what: str) -> None:
    if not path.is_file():
        raise ModelError(f"{what} not found: {path}")
    if file_sha256(path) != sha256:
        raise ModelError(f"{what} file {path} does not match the sha256 in its model card: the file is damaged or from another model")


def pick_runtime(name: str, device: str, card: ModelCard) -> str:
    """"auto": ONNX Runtime on a CPU when the card has an ONNX copy and onnxruntime is
    installed, else torch. "onnx" where it cannot run is an error, not a silent fallback."""
    if name not in RUNTIMES:
        raise ModelError(f"unknown runtime {name!r}: use {', '.join(RUNTIMES)}")
    if name == "torch":
        return "torch"
    installed = importlib.util.find_spec("onnxruntime") is not None
    available = installed and card.onnx_path is not None and device == "cpu"
    if name == "onnx" and not available:
        raise ModelError("runtime onnx needs the CPU, onnxruntime installed and a model card that lists an ONNX file")
    return "onnx" if available else "torch"


class Encoder:
    """The loaded tower. ``embed(crops)`` maps (N, 112, 112, 3) uint8 RGB to (N, dim) unit float32."""

    def __init__(self, card: ModelCard, device: str = "auto", batch_size: int = 64, runtime: str = "auto",
                 threads: int | None = None) -> None:
        """``threads``: CPU threads for inference (None: torch's default, one per core). torch's
        setting is process-wide, so the torch runtime changes it for the whole process."""
        import torch

        from .model import TowerConfig, build_tower

        # Both files are checked, whichever runs: a damaged model is reported, never half-used.
        _check_file(card.weights_path, card.sha256, "model weights")
        if card.onnx_path is not None:
            _check_file(card.onnx_path, card.onnx_sha256 or "", "ONNX model")
        self.card = card
        self.device = pick_device(device)
        self.runtime = pick_runtime(runtime, self.device, card)
        self.batch_size = batch_size
        self._torch = torch
        self._model = self._session = None
        self._norms = None  # the last batch's pre-normalisation norms (torch: a hook on the head)
        # The head reads a face and its mirror image: without mirror averaging there is no quality.
        self.quality_head = QualityHead(card.quality) if card.quality is not None and card.mirror_average else None
        self.cohort = (load_cohort(card.cohort.path, card.cohort.sha256, card.cohort.k, card.cohort.reference)
                       if card.cohort is not None else None)
        if self.cohort is not None and self.cohort.dim != card.dim:
            raise ModelError(f"cohort {card.cohort.path} has {self.cohort.dim} dimensions, the model {card.dim}")
        if self.runtime == "onnx":
            self._session = _onnx_session(card.onnx_path, threads or torch.get_num_threads())
            outputs = [o.name for o in self._session.get_outputs()]
            if self.quality_head is not None and PRENORM_OUTPUT not in outputs:
                raise ModelError(f"ONNX model {card.onnx_path} has no {PRENORM_OUTPUT} output, which the card's quality head needs")
            return
        if threads:
            torch.set_num_threads(threads)
        try:
            state = torch.load(card.weights_path, map_location="cpu", weights_only=True)
            model = build_tower(TowerConfig.from_dict(card.tower))
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except Exception as exc:  # a state dict from another architecture, a truncated zip, ...
            raise ModelError(f"cannot load model weights {card.weights_path}: {exc}") from None
        self._model = model.to(self.device).eval()
        if self.quality_head is not None:
            model.head.register_forward_hook(lambda module, inputs, output: setattr(self, "_norms", output.float().norm(dim=1)))

    @property
    def model_id(self) -> str:
        return self.card.model_id

    @property
    def dim(self) -> int:
        return self.card.dim

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.embed_with_quality(crops)[0]

    def embed_with_quality(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Encodings as ``embed`` gives them, and each face's learned quality ((N,) float32;
        None where the card has no quality head)."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        size = self.card.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(f"expected aligned crops of shape (N, {size}, {size}, 3), got {crops.shape}")
        out = np.empty((len(crops), self.dim), np.float32)
        quality = np.empty(len(crops), np.float32) if self.quality_head is not None else None
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            out[start : start + len(batch)], batch_quality = self._embed_batch(batch)
            if quality is not None:
                quality[start : start + len(batch)] = batch_quality
        if not np.isfinite(out).all() or (quality is not None and not np.isfinite(quality).all()):
            # Weights that pass their checksum (a card re-signed by hand, a bad export) can still
            # be broken; stop here rather than store or match encodings that mean nothing.
            raise ModelError(f"model {self.model_id} produced non-finite encodings: its weights are damaged; "
                             "reinstall faceapp's assets/ or choose another model card (--model, or Settings)")
        return out, quality

    def _embed_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.card.mirror_average:
            return self._run(batch)[0], None
        units, norms = self._run(with_mirrors(batch))
        quality = self.quality_head.of_mirrored(units, norms) if self.quality_head is not None else None
        return average_mirrors(units), quality

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Unit encodings of a batch, and their pre-normalisation norms where a quality head needs them."""
        if self._session is not None:
            images = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
            if self.quality_head is None:
                return self._session.run(None, {"images": images})[0], None
            units, norms = self._session.run([self._session.get_outputs()[0].name, PRENORM_OUTPUT], {"images": images})
            return units, norms.reshape(-1)
        torch = self._torch
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).permute(0, 3, 1, 2).float()
            units = self._model(images).cpu().numpy()
            return units, self._norms.cpu().numpy() if self.quality_head is not None else None


def _onnx_session(path: Path, threads: int):
    """An ONNX Runtime session on the CPU with as many threads as torch would use. Its threads
    do not spin between calls: the GUI embeds a face or two per frame and must leave the
    CPU to the camera and the detector in between."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a file that passes its checksum but is not a usable graph
        raise ModelError(f"cannot load ONNX model {path}: {exc}") from None


def load_encoder(model_path: str | Path, device: str = "auto", runtime: str = "auto", threads: int | None = None) -> Encoder:
    """Read the card at ``model_path`` (or next to the weights file) and load the encoder."""
    return Encoder(read_card(model_path), device, runtime=runtime, threads=threads)
