"""Embedding latency of the shipped encoder: CPU ms per face at batch 1 and 32 (ONNX Runtime and torch), GPU faces/s at 256.

Where the card averages each face with its mirror image, a face costs two images through
the network; the single-pass cost is printed beside it.

    python benchmarks/bench_embed.py [--model assets/faceapp-encoder.json] \
        [--detector-model ../shared/models/yunet.onnx] [--threads N] [--crops data/pack/part-00.npz]

The crops are real: LFW photos detected with YuNet and aligned, as the app feeds the
encoder. The GPU figure is measured only where torch sees CUDA (skipped with a message
otherwise). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_LFW, DEFAULT_MODEL, machine, percentile, set_threads, table


def real_crops(lfw_dir: Path, detector_model: Path, count: int) -> np.ndarray:
    from faceapp.align import align_face, center_crop_face
    from faceapp.detect import YuNetDetector, pick_central
    from faceapp.images import list_images, load_image

    detector = YuNetDetector(detector_model)
    crops = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:count]:
        image = load_image(list_images(person)[0])
        face = pick_central(detector.detect(image), image.shape)
        crops.append(align_face(image, face.landmarks) if face else center_crop_face(image, 0.6))
    return np.stack(crops)


def time_ms(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card (default: the shipped one)")
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--gpu-batch", type=int, default=256)
    parser.add_argument("--crops", type=Path, help="take aligned crops from a prepared or packed dataset instead of LFW")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    import torch

    from faceapp.embed import Encoder, read_card

    print(machine())
    card = read_card(args.model)
    if args.crops:  # e.g. on a GPU machine that has the packed training set but no LFW or detector
        from training.prepare import load_dataset

        crops = load_dataset(args.crops)["crops"][:32]
    else:
        crops = real_crops(args.lfw, args.detector_model, 32)
    print(f"encoder {card.model_id} ({card.raw.get('architecture', {}).get('parameters', '?')} parameters), "
          f"CPU, {torch.get_num_threads()} threads")
    rows = []
    variants = [(runtime, card) for runtime in (("onnx", "torch") if card.onnx_path else ("torch",))]  # the app's CPU default first
    if card.mirror_average:  # what the mirror image costs, measured beside it
        variants.insert(1, (variants[0][0], replace(card, mirror_average=False)))
    for runtime, variant in variants:
        cpu = Encoder(variant, device="cpu", batch_size=256, runtime=runtime)
        label = runtime + (" + mirror" if variant.mirror_average else " single-pass" if card.mirror_average else "")
        one = time_ms(lambda: cpu.embed(crops[:1]), args.repeats)
        batch = time_ms(lambda: cpu.embed(crops), max(5, args.repeats // 3))
        rows += [
            (label, "1", percentile(one, 50), percentile(one, 90), 1000 / percentile(one, 50)),
            (label, "32", percentile(batch, 50) / 32, percentile(batch, 90) / 32, 32_000 / percentile(batch, 50)),
        ]
    print(table(["encoding", "batch", "median ms/face", "p90 ms/face", "faces/s"], rows))

    if not torch.cuda.is_available():
        print("GPU: skipped (torch sees no CUDA device)")
        return 0
    gpu = Encoder(card, device="cuda", batch_size=args.gpu_batch)
    big = np.concatenate([crops] * (args.gpu_batch // len(crops) + 1))[: args.gpu_batch]

    def run() -> None:
        gpu.embed(big)
        torch.cuda.synchronize()

    times = time_ms(run, args.repeats, warmup=5)
    name = torch.cuda.get_device_name(0)
    print(f"GPU {name}: batch {args.gpu_batch}, median {percentile(times, 50):.2f} ms per batch "
          f"=> {args.gpu_batch * 1000 / percentile(times, 50):,.0f} faces/s (including host-device copies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
