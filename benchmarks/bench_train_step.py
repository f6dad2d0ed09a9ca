"""One CPU training step in float32 and under bf16 autocast: whether bf16 pays on this CPU.

    python benchmarks/bench_train_step.py [--faces 16] [--repeats 10] [--threads N]

``python -m training train`` uses bf16 autocast on a CPU only where the CPU computes bf16
natively (AVX512-BF16 or AMX: ``training.engine.cpu_has_fast_bf16``); elsewhere torch emulates
it. This times ``training.engine.train_step`` (batch-hard triplet plus both teacher terms, as
the shipped recipe) on a random batch of ``--faces`` crops (P x 4) for the default tower, in
float32 and with bf16 autocast forced on. A newer CPU can be made to run as an AVX2-only one
with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` in the environment. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from common import machine, percentile, set_threads, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=16, help="images per step (P x K with K = 4)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    import torch

    from faceapp.model import build_tower
    from training import engine
    from training.losses import TripletLoss

    print(machine())
    native = engine.cpu_has_fast_bf16()
    limits = [f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if os.environ.get(k)]
    print(f"native bf16 (AVX512-BF16 or AMX): {'yes' if native else 'no: bf16 is emulated'}"
          + (f", but torch is limited by {' '.join(limits)}" if limits else ""))
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.faces, 3, 112, 112, generator=generator) * 255
    labels = torch.arange(args.faces) // 4
    teacher = torch.randn(args.faces, 128, generator=generator)
    rows = []
    for name, amp in (("float32", False), ("bf16 autocast", True)):
        engine.cpu_has_fast_bf16 = lambda: True  # force autocast on, even where train() would not use it
        model = build_tower().to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss = TripletLoss(0.2)

        def step() -> None:
            engine.train_step(model, images.contiguous(memory_format=torch.channels_last), labels, teacher, loss, 2.0,
                              optimizer, torch.device("cpu"), amp=amp, teacher_distance_weight=20.0)

        for _ in range(2):  # warm-up: first steps allocate and pick kernels
            step()
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        rows.append((name, percentile(times, 50), percentile(times, 90)))
    print(f"one training step, {args.faces} faces, {torch.get_num_threads()} threads")
    print(table(["precision", "median s", "p90 s"], rows))
    print(f"bf16 / float32: {rows[1][1] / rows[0][1]:.2f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
