"""1:N identify latency against galleries of 10k, 100k and 1M synthetic unit templates.

    python benchmarks/bench_identify.py [--sizes 10000 100000 1000000] [--queries 50] [--dim 128]

Each gallery holds random L2-normalised float32 rows (5 per person); each query is a fresh
random unit vector, matched with faceapp.match.identify (one matrix-vector product plus the
winner's distance). Prints the median and p90 of the queries; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from common import machine, percentile, table, unit_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--per-person", type=int, default=5)
    args = parser.parse_args(argv)

    from faceapp.match import Gallery, identify, identify_many

    print(machine())
    rng = np.random.default_rng(0)
    queries = unit_rows(rng, args.queries, args.dim)
    rows = []
    for size in args.sizes:
        people = max(1, size // args.per_person)
        started = time.perf_counter()
        gallery = Gallery(unit_rows(rng, size, args.dim), np.arange(size) % people, {i: f"p{i}" for i in range(people)}, "bench")
        build_s = time.perf_counter() - started
        identify(queries[0], gallery, 0.5)  # warm-up
        times = []
        for q in queries:
            started = time.perf_counter()
            identify(q, gallery, 0.5)
            times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        identify_many(queries[:8], gallery, 0.5)  # a frame with 8 faces: one matrix product
        batch_ms = (time.perf_counter() - started) * 1000
        rows.append((f"{size:,}", gallery.encodings.nbytes / 2**20, build_s, percentile(times, 50), percentile(times, 90), batch_ms))
        del gallery
    print(f"identify: {args.queries} queries per gallery, {args.dim}-D float32 unit templates, {args.per_person} per person")
    print(table(["templates", "MiB", "build s", "median ms", "p90 ms", "8 faces at once ms"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
