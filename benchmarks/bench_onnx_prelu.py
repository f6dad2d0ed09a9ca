"""What rewriting the PReLUs of the encoder's ONNX copy saves in ONNX Runtime on this CPU.

    python benchmarks/bench_onnx_prelu.py [--model assets/faceapp-encoder.json] [--repeats 300] [--threads N]

Exports the card's float16 weights to ONNX twice into a temporary folder, as ``python -m
training export`` writes them (each PReLU as ``a*x + (1-a)*relu(x)``, ``training.export.onnx_ready``)
and with plain PRelu nodes, checks that both compute the same encodings, then times one face
(two images where the card averages the mirror image in) through the app's own ONNX Runtime
session, the two variants interleaved. ONNX Runtime's profiler then says which share of the
plain copy's time goes to its PRelu nodes and to the layout reorders around them. Needs the
``onnx`` and ``onnxscript`` packages (the test and train extras). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from common import DEFAULT_MODEL, machine, percentile, set_threads, table


def profile_shares(path: Path, images: np.ndarray, threads: int, runs: int = 50) -> Counter:
    """Share of node time by op type over ``runs`` calls, from ONNX Runtime's profiler."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, {"images": images})
    events = json.loads(Path(session.end_profiling()).read_text())
    totals: Counter = Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    whole = sum(totals.values()) or 1
    return Counter({op: us / whole for op, us in totals.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card (default: the shipped one)")
    parser.add_argument("--repeats", type=int, default=300, help="timed calls of each variant")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: torch's default, one per core)")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    import torch

    from faceapp.embed import _onnx_session, read_card
    from faceapp.model import TowerConfig, build_tower
    from training import export

    print(machine())
    card = read_card(args.model)
    model = build_tower(TowerConfig.from_dict(card.tower))
    model.load_state_dict({k: v.float() for k, v in torch.load(card.weights_path, map_location="cpu", weights_only=True).items()})
    model.eval()
    threads = torch.get_num_threads()
    images = np.random.default_rng(0).uniform(0, 255, (2 if card.mirror_average else 1, 3, 112, 112)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        split, plain = Path(tmp) / "split.onnx", Path(tmp) / "plain.onnx"
        export.write_onnx(model, split)
        rewrite = export.onnx_ready
        export.onnx_ready = lambda m: copy.deepcopy(m).cpu().eval()  # keep the PReLUs as they are
        try:
            export.write_onnx(model, plain)
        finally:
            export.onnx_ready = rewrite
        sessions = {"plain PRelu": _onnx_session(plain, threads), "split (as exported)": _onnx_session(split, threads)}
        outputs = [s.run(None, {"images": images})[0] for s in sessions.values()]
        print(f"encoder {card.model_id}, {threads} threads, {len(images)} image(s) per face; "
              f"largest difference between the two copies' outputs: {np.abs(outputs[0] - outputs[1]).max():.1e}")
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(10):  # warm-up
            for session in sessions.values():
                session.run(None, {"images": images})
        for _ in range(args.repeats):  # interleaved, so both see the same load
            for name, session in sessions.items():
                started = time.perf_counter()
                session.run(None, {"images": images})
                times[name].append((time.perf_counter() - started) * 1000)
        rows = [(name, percentile(t, 50), percentile(t, 10)) for name, t in times.items()]
        print(table(["ONNX copy", "median ms/face", "p10 ms/face"], rows))
        print(f"split / plain: {rows[1][1] / rows[0][1]:.2f} of the time at the median")
        shares = profile_shares(plain, images, threads)
        prelu, reorder = shares.get("PRelu", 0.0), shares.get("ReorderInput", 0.0) + shares.get("ReorderOutput", 0.0)
        print(f"plain copy, ONNX Runtime profiler: PRelu {prelu:.0%} and layout reorders {reorder:.0%} of node time "
              f"(together {prelu + reorder:.0%}); " + ", ".join(f"{op} {s:.0%}" for op, s in shares.most_common(4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
