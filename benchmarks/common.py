"""Shared bits of the benchmark scripts: default paths, percentiles and a plain-text table."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_DETECTOR = SHARED / "models" / "yunet.onnx"
DEFAULT_MODEL = REPO / "assets" / "faceapp-encoder.json"
DEFAULT_LFW = SHARED / "datasets" / "lfw-view1"


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q))


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A fixed-width text table (numbers right-aligned)."""
    cells = [[str(h) for h in header]] + [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for number, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def set_threads(threads: int) -> None:
    """0 keeps torch's default (one per core); otherwise torch uses exactly this many."""
    import torch

    if threads:
        torch.set_num_threads(threads)


def machine() -> str:
    """One line saying what the figures were measured on."""
    import cv2
    import torch

    load = ", load average %.2f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs{load}; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, OpenCV {cv2.__version__} "
        f"with {cv2.getNumThreads()} threads, numpy {np.__version__}, Python {platform.python_version()}"
    )


def unit_rows(rng: np.random.Generator, n: int, dim: int = 128, chunk: int = 100_000) -> np.ndarray:
    """n random unit float32 rows, generated in chunks to keep memory at the output's size."""
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out
