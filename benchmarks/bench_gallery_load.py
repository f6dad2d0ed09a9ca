"""Gallery load from SQLite and from PostgreSQL, 10k / 100k / 1M templates: what a station pays
at start and whenever another station changes the gallery (it reloads it whole).

    python benchmarks/bench_gallery_load.py [--sizes 10000 100000 1000000] [--repeats 3] [--url postgresql://...]

Each size is written once into a new SQLite file and a new PostgreSQL database (people with 5
templates each, 128-D, no crops, through the stores' own import_rows), then
``store.gallery(model)`` is timed ``--repeats`` times on each (median and best). PostgreSQL is
the throwaway server the tests start (initdb and pg_ctl on a Unix socket, see
tests/storage/postgres_cluster.py), or with ``--url`` an empty database of yours, which is
filled and emptied again. Also printed: the bytes the loaded Gallery holds (float32 rows and
person ids) and the bytes on disk per template. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import REPO, machine, table, unit_rows

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from faceapp.storage import open_store  # noqa: E402

MODEL = "bench-model"
PER_PERSON = 5
AT = "2024-01-01T00:00:00.000+00:00"


def pages(encodings: np.ndarray, page: int = 50_000):
    """import_rows pages: people, then their templates (5 each), in id order."""
    n = len(encodings)
    people = (n + PER_PERSON - 1) // PER_PERSON
    for start in range(0, people, page):
        yield "people", [(i + 1, f"person {i}", f"person {i}", AT, None) for i in range(start, min(people, start + page))]
    for start in range(0, n, page):
        yield "templates", [(j + 1, j // PER_PERSON + 1, MODEL, encodings.shape[1], encodings[j].tobytes(), None, None,
                             AT, None) for j in range(start, min(n, start + page))]


def time_loads(target: str, encodings: np.ndarray, repeats: int) -> tuple[float, list[float], int]:
    with open_store(target) as store:
        start = time.perf_counter()
        store.import_rows(pages(encodings))
        fill = time.perf_counter() - start
        times, held = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            gallery = store.gallery(MODEL)
            times.append(time.perf_counter() - start)
            held = gallery.encodings.nbytes + gallery.person_ids.nbytes
            assert len(gallery) == len(encodings)
            del gallery
    return fill, times, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", help="an empty PostgreSQL database to use instead of a throwaway server")
    args = parser.parse_args()
    print(machine())

    cluster = None
    if args.url is None:
        from storage.postgres_cluster import PostgresCluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            sys.exit("no PostgreSQL binaries (initdb, pg_ctl): install postgresql, or give --url")
        cluster = PostgresCluster(bindir)
    import psycopg

    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for n in args.sizes:
                encodings = unit_rows(np.random.default_rng(n), n)
                sqlite_path = str(Path(folder) / f"gallery-{n}.db")
                s_fill, s_times, held = time_loads(sqlite_path, encodings, args.repeats)
                s_bytes = Path(sqlite_path).stat().st_size
                if cluster is not None:
                    with psycopg.connect(cluster.url(), autocommit=True) as conn:
                        conn.execute(f"CREATE DATABASE gallery_{n}")
                    url = cluster.url(f"gallery_{n}")
                else:
                    url = args.url
                p_fill, p_times, _ = time_loads(url, encodings, args.repeats)
                with psycopg.connect(url, autocommit=True) as conn:
                    p_bytes = conn.execute("SELECT pg_total_relation_size('faceapp.templates')").fetchone()[0]
                    if cluster is None:
                        conn.execute("DROP SCHEMA faceapp CASCADE")  # leave the given database as it came
                rows.append((f"{n:,}", f"{statistics.median(s_times):.3f} / {min(s_times):.3f}",
                             f"{statistics.median(p_times):.3f} / {min(p_times):.3f}", f"{held / 2**20:.1f}",
                             f"{s_bytes / n:.0f} / {p_bytes / n:.0f}", f"{s_fill:.1f} / {p_fill:.1f}"))
                print(table(("templates", "SQLite load s (median / best)", "PostgreSQL load s (median / best)",
                             "gallery MiB in memory", "disk B/template (SQLite / PG)", "fill s (SQLite / PG)"),
                            rows[-1:]), flush=True)
    finally:
        if cluster is not None:
            cluster.destroy()
    print(table(("templates", "SQLite load s (median / best)", "PostgreSQL load s (median / best)",
                 "gallery MiB in memory", "disk B/template (SQLite / PG)", "fill s (SQLite / PG)"), rows))


if __name__ == "__main__":
    main()
