"""One station as a separate process, for the tests that need real concurrency or a real kill:

    python station_process.py enroll URL PREFIX COUNT      enroll PREFIX 0..COUNT-1, 3 templates each
    python station_process.py identify URL SECONDS         match probes against the shared gallery, logging events
    python station_process.py enroll-one URL NAME          enroll NAME once (the test kills it half-way)

Each prints one JSON line with what it did; any exception is a non-zero exit with its message.
"""

from __future__ import annotations

import json
import sys
import time
import zlib

import numpy as np

from faceapp.app import Database
from faceapp.match import identify

MODEL = "faceapp-encoder-v1"


def encodings(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main(action: str, url: str, *args: str) -> dict:
    with Database.open(url, station=f"{action} {args[0] if args else ''}".strip()) as db:
        if action == "enroll":
            prefix, count = args[0], int(args[1])
            for i in range(count):
                db.store.enroll(f"{prefix} {i}", encodings(3, seed=zlib.crc32(f"{prefix} {i}".encode())), MODEL)
            return {"enrolled": count}
        if action == "enroll-one":
            print(json.dumps({"started": True}), flush=True)
            return {"id": db.store.enroll(args[0], encodings(3, seed=1), MODEL)}
        if action == "identify":
            shared = db.shared_gallery(MODEL, None)
            probes, seen = encodings(1, seed=99), set()
            end = time.monotonic() + float(args[0])
            while time.monotonic() < end:
                gallery = shared.current()
                seen.add(len(gallery))
                identify(probes[0], gallery, threshold=0.5)
                time.sleep(0.01)
            shared.close()
            return {"sizes_seen": len(seen), "reloads": shared.reloads}
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
