"""Faces over time on real clips: E's two webcam clips and the doorway clip, end to end, with
the rule before this change (each frame alone, nearest template under the 1:1 threshold), the
open-set rule on each frame alone (tracking off), and tracking on (the default).

    python benchmarks/bench_tracking.py [--videos ../shared/videos] [--threads N]

E is enrolled from every 8th frame of ``person-e-hungry.mkv`` (the frames the enrollment
checks accept) and identified in ``person-e-want.mkv``: the share of his face frames (faces the
detector is sure of, score >= 0.8; his hands are found too, at 0.6-0.7) that show his name, and
how many hand detections got a name. The doorway clip's people are strangers: the share of their
face frames that got E's name, the tracks and the sightings it would log. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_DETECTOR, DEFAULT_MODEL, SHARED, machine, table

SURE = 0.8  # detector score of a face (E's hands score 0.6-0.7)


def enroll_e(pipeline, clip: Path, threshold: float):
    """E's gallery from every 8th frame of ``clip``, through the enrollment checks."""
    from faceapp.app.enrollment import Shot, screen_shots
    from faceapp.camera import open_source
    from faceapp.match import Gallery

    shots = []
    with open_source(str(clip)) as source:
        for frame in source:
            if frame.index % 8 == 0:
                faces = pipeline.find_faces(frame.image)
                if faces:
                    shots.append(Shot.of(pipeline.encode(frame.image, faces[:1])[0], f"frame {frame.index}"))
    kept, refused = screen_shots(shots, None, threshold)
    gallery = Gallery(np.stack([s.encoding for s in kept]), np.ones(len(kept), np.int64), {1: "E"}, pipeline.model_id,
                      cohort=pipeline.cohort)  # as the app judges
    return gallery, len(kept), refused


def run(pipeline, clip: Path, gallery, rule, tracking: bool) -> dict:
    from faceapp.app.recognition import SightingRule, sightings
    from faceapp.camera import open_source
    from faceapp.follow import FaceFollower, FollowSettings

    follower = FaceFollower(pipeline, rule, FollowSettings(tracking=tracking))
    sighting = SightingRule(60.0)
    sure = named_sure = other_named = encoded = frames = logged = 0
    tracks: set[int] = set()
    started = time.perf_counter()
    with open_source(str(clip)) as source:
        for frame in source:
            result = follower.process(frame, gallery)
            frames += 1
            encoded += result.encoded
            logged += len(sightings(result, sighting)) + len(sighting.visits_ended(result.ended))
            for face in result.faces:
                if face.match.track is not None:
                    tracks.add(face.match.track)
                if face.detection.score >= SURE:
                    sure += 1
                    named_sure += face.match.name is not None
                else:
                    other_named += face.match.name is not None
    logged += len(sighting.visits_ended(follower.finish()))
    seconds = time.perf_counter() - started
    return {"frames": frames, "sure": sure, "named": named_sure / max(sure, 1), "other_named": other_named,
            "encoded": encoded, "tracks": len(tracks) if tracking else "-", "events": logged if tracking else "-",
            "fps": frames / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=SHARED / "videos")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--detector-model", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    args = parser.parse_args()

    from faceapp.app.config import resolve_config
    from faceapp.app.recognition import identify_rule
    from faceapp.decide import JudgeLimits, OpenSetRule
    from faceapp.pipeline import open_pipeline

    config = resolve_config({"model_path": args.model}, {}, {})
    pipeline = open_pipeline(config.model_path, args.detector_model, "cpu", threads=args.threads or None)
    print(machine())
    gallery, kept, refused = enroll_e(pipeline, args.videos / "person-e-hungry.mkv", config.threshold)
    print(f"E enrolled from {kept} frames of person-e-hungry.mkv ({len(refused)} refused by the enrollment checks)")
    before = OpenSetRule(config.threshold, limits=JudgeLimits(0.0, 0.0, float("inf"), 0.0))
    rules = [("before: each frame, 1:1 threshold", before, False),
             ("open-set rule, each frame alone", identify_rule(config), False),
             ("open-set rule, tracked", identify_rule(config), True)]
    for clip, what in (("person-e-want.mkv", "E's face frames named E"), ("doorway-one-by-one.mp4", "strangers' face frames named E")):
        rows = []
        for label, rule, tracking in rules:
            r = run(pipeline, args.videos / clip, gallery, rule, tracking)
            rows.append((label, r["frames"], r["sure"], f"{r['named']:.3f}", r["other_named"], r["encoded"], r["tracks"],
                         r["events"], r["fps"]))
        print(f"\n{clip}")
        print(table(["rule", "frames", "sure faces", what, "unsure named", "encoded", "tracks", "events",
                     "frames/s"], rows))


if __name__ == "__main__":
    main()
