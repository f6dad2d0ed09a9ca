"""1:N identify against 10k, 100k and 1M people: time per query, exactness, memory.

    python benchmarks/bench_identify.py [--sizes 10000 100000 1000000] [--queries 100] [--repeats 3] \
        [--real-crops 2000] [--real-size 1000000]

Galleries are clustered as real ones are: people are random unit centres, each enrolled as one
row about 0.45 from their centre (matching compares a face with each person's mean template, one
row a person whatever their number of templates, so a size counts people), and half the queries
are new faces of enrolled people, half strangers. Each query is timed ``--repeats`` times through
faceapp.match.identify (the int8 first pass and float32 re-rank from shortlist.MIN_ROWS
people on) and through a plain float32 scan (``argmax(encodings @ q)``, what identify did
before), all queries one way then all the other, ``--repeats`` rounds, so both see the same
load and neither finds its data pushed out of cache by the other; identify_many with 8 faces and best_two_people
(the open-set runner-up) are timed too. Exactness: the share of queries whose answer is the
float32 scan's row (it must be all of them), how often the int8 pass alone would have found that
row (its recall@1, what the re-rank repairs) and how many rows the re-rank scored. Memory: the
bytes the Gallery holds (float32 rows, person ids, the int8 copy). Beside each median wall time,
the median CPU time of the process per query (all its threads; OpenBLAS's worker threads also
count the time they spin waiting for work), a figure other programs' load moves less.

Then real encodings, replicated with noise to ``--real-size`` templates (every copy a new person,
about 4 templates each, so a quarter as many people are searched; a harder gallery than a real
one, full of near-twins): dlib's encodings of the training faces
(../shared/datasets/teacher-dlib.npz) and the shipped encoder's of ``--real-crops`` CelebA crops
(../shared/datasets/celeba-aligned, as stored), each identity's last face held out as a query,
a fifth of the identities (at most 300) left out as strangers. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_MODEL, SHARED, machine, percentile, table, unit_rows

PER_PERSON = 1  # rows a person; matching averages a person's templates into one row anyway
SPREAD = 0.5  # norm of the noise added to a person's centre before normalising


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, size: int, queries: int):
    """A clustered gallery's (rows, person ids) and queries: known people first, then strangers."""
    people = max(1, size // PER_PERSON)
    centres = unit_rows(rng, people)
    rows = np.empty((size, centres.shape[1]), np.float32)
    for start in range(0, size, 100_000):  # in chunks: the noise of a million rows is 512 MB
        stop = min(size, start + 100_000)
        block = centres[np.arange(start, stop) // PER_PERSON]
        rows[start:stop] = unit(block + rng.standard_normal(block.shape, np.float32) * (SPREAD / np.sqrt(block.shape[1])))
    known = centres[rng.choice(people, queries // 2)]
    known = unit(known + rng.standard_normal(known.shape, np.float32) * (SPREAD / np.sqrt(known.shape[1])))
    return rows, np.arange(size) // PER_PERSON, np.concatenate([known, unit_rows(rng, queries - len(known))])


def replicated(encodings: np.ndarray, identity: np.ndarray, size: int, rng: np.random.Generator):
    """Real encodings grouped by identity -> (rows, person ids) of ``size`` rows and the queries:
    each identity's last face, then the faces of a fifth of the identities (at most 300), kept
    out as strangers."""
    last = np.r_[identity[1:] != identity[:-1], True]
    people = identity.max() + 1
    strangers = np.isin(identity, rng.choice(people, min(300, people // 5), replace=False))
    base, base_ids = encodings[~last & ~strangers], identity[~last & ~strangers]
    copies = -(-size // len(base))
    rows = np.concatenate([base] + [unit(base + rng.standard_normal(base.shape, np.float32) * 0.02) for _ in range(copies - 1)])
    ids = np.concatenate([base_ids + k * (identity.max() + 1) for k in range(copies)])
    queries = np.concatenate([encodings[last & ~strangers], encodings[strangers]])
    return rows[:size], ids[:size], queries


def measure(rows: np.ndarray, ids: np.ndarray, queries: np.ndarray, repeats: int) -> dict:
    from faceapp.match import Gallery, best_two_people, identify, identify_many

    started = time.perf_counter()
    templates = Gallery(rows, ids, {int(p): f"p{p}" for p in np.unique(ids)}, "bench")
    gallery = templates.people  # what identify searches, made as the gallery loads
    out = {"build_s": time.perf_counter() - started, "mib": templates.nbytes / 2**20, "rows": len(gallery),
           "templates": len(templates)}
    fast, fast_cpu, scan, scan_cpu = [], [], [], []
    identify(queries[0], templates, 0.8)  # warm-up: the first call starts the scoring threads
    for _ in range(repeats):  # all queries one way, then the other: each pass finds its own data in cache
        for q in queries:
            started, cpu = time.perf_counter(), time.process_time()
            identify(q, templates, 0.8)
            fast.append((time.perf_counter() - started) * 1000)
            fast_cpu.append((time.process_time() - cpu) * 1000)
        for q in queries:
            started, cpu = time.perf_counter(), time.process_time()
            int(np.argmax(gallery.encodings @ q))
            scan.append((time.perf_counter() - started) * 1000)
            scan_cpu.append((time.process_time() - cpu) * 1000)
    out.update(ms=percentile(fast, 50), p90=percentile(fast, 90), scan_ms=percentile(scan, 50),
               cpu=percentile(fast_cpu, 50), scan_cpu=percentile(scan_cpu, 50))
    for name, call in (("many_ms", lambda: identify_many(queries[:8], templates, 0.8)),
                       ("two_ms", lambda: best_two_people(queries[:1], templates))):
        times = []
        for _ in range(9):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = percentile(times, 50)
    truth = np.concatenate([np.argmax(queries[i : i + 64] @ gallery.encodings.T, axis=1) for i in range(0, len(queries), 64)])
    found = [m.person_id == gallery.person_ids[t] and abs(m.distance - np.sqrt(max(0.0, 2 - 2 * float(
        gallery.encodings[t].astype(np.float64) @ q.astype(np.float64))))) < 1e-9
        for m, t, q in zip(identify_many(queries, templates, 2.0), truth, queries)]
    out["exact"] = f"{sum(found)}/{len(found)}"
    shortlist = gallery._shortlist  # noqa: SLF001 - the benchmark reports the first pass itself
    if shortlist is None:
        out.update(int8_recall="-", listed="-")
        return out
    hits, listed = 0, []
    for i in range(0, len(queries), 8):
        scores = shortlist.score(queries[i : i + 8])
        for j in range(len(scores.windows)):
            top = scores.best(j)
            int8_best = np.concatenate([np.flatnonzero(p[j] == top) + o for p, o in zip(scores.parts, scores.offsets)])
            hits += int(int8_best[0] == truth[i + j])
            listed.append(len(scores.shortlist(j, top)))
    out["int8_recall"] = f"{hits / len(queries):.3f}"
    out["listed"] = f"{percentile(listed, 50):.0f} / {max(listed)}"
    return out


def real_sets(args: argparse.Namespace, rng: np.random.Generator):
    """(name, encodings, identity) of the real encodings that are here."""
    teacher = SHARED / "datasets" / "teacher-dlib.npz"
    if teacher.is_file():
        data = np.load(teacher)
        keep = np.char.startswith(data["paths"].astype(str), "celeba-aligned/")
        paths = data["paths"][keep]
        identity = np.unique([p.rsplit("/", 1)[0] for p in paths], return_inverse=True)[1]
        yield "dlib teacher, CelebA", unit(data["encodings"][keep].astype(np.float32)), identity
    else:
        print(f"(no {teacher}: the dlib encodings are skipped)")
    crops_dir = SHARED / "datasets" / "celeba-aligned"
    if args.real_crops and crops_dir.is_dir():
        from faceapp.embed import load_encoder
        from faceapp.images import list_images, load_image

        folders = sorted(d for d in crops_dir.iterdir() if d.is_dir())
        paths = [p for d in folders[: args.real_crops // 5 + 1] for p in list_images(d)][: args.real_crops]
        started = time.perf_counter()
        encoder = load_encoder(args.model, device="cpu")
        encodings = encoder.embed(np.stack([load_image(p) for p in paths]))
        print(f"(encoded {len(paths)} CelebA crops with {encoder.model_id} in {time.perf_counter() - started:.0f} s)")
        identity = np.unique([p.parent.name for p in paths], return_inverse=True)[1]
        yield "shipped encoder, CelebA", encodings, identity
    elif args.real_crops:
        print(f"(no {crops_dir}: the shipped encoder's encodings are skipped)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="times each query is timed (medians over all)")
    parser.add_argument("--real-crops", type=int, default=2000, help="CelebA crops to encode (0: skip)")
    parser.add_argument("--real-size", type=int, default=1_000_000, help="rows the real encodings are replicated to (0: skip them)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model card of the encoder")
    args = parser.parse_args(argv)

    print(machine())
    rng = np.random.default_rng(0)
    header = ["gallery", "people", "templates", "MiB", "build s", "identify ms", "p90", "CPU ms", "float32 scan ms", "CPU ms",
              "8 faces ms", "best two ms", "exact", "int8 recall@1", "re-ranked rows (median / max)"]
    keys = ["rows", "templates", "mib", "build_s", "ms", "p90", "cpu", "scan_ms", "scan_cpu", "many_ms", "two_ms", "exact",
            "int8_recall", "listed"]
    results = []
    for size in args.sizes:
        rows, ids, queries = clustered(rng, size, args.queries)
        found = measure(rows, ids, queries, args.repeats)
        del rows
        results.append(["clustered"] + [f"{found[k]:,}" if k in ("rows", "templates") else found[k] for k in keys])
        print(f"  {size:,} done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    for name, encodings, identity in real_sets(args, rng) if args.real_size else ():
        rows, ids, queries = replicated(encodings, identity, args.real_size, rng)
        found = measure(rows, ids, queries[: max(args.queries, 100) * 3], args.repeats)
        del rows
        results.append([name] + [f"{found[k]:,}" if k in ("rows", "templates") else found[k] for k in keys])
    print(f"identify: {args.queries} queries per clustered gallery, each timed {args.repeats} times, "
          f"load average {os.getloadavg()[0]:.2f} at the end (a shared machine's timings are noisy: medians)")
    print(table(header, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
