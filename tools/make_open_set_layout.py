"""Lay a folder of identity subfolders out for ``faceapp evaluate --open-set``.

    python tools/make_open_set_layout.py ../shared/datasets/celeba-wild-dev --enrolled 60 --seed 0
    faceapp evaluate --open-set /tmp/open-set-XXXX

``--enrolled`` people (drawn with ``--seed`` among those with more photos than
``--gallery-photos``) get ``--gallery-photos`` photos in ``gallery/<person>/`` and the rest in
``probe/<person>/``; every other person's photos go to ``unknown/<person>/``, as strangers.
The photos are copied into a new temporary folder (or ``--out``, which must not exist yet)
outside the repository, never into the dataset, and the folder's path is printed last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from faceapp.images import list_images  # noqa: E402  (after the path, so a checkout runs it as is)


def plan_layout(people: dict[str, list[Path]], enrolled: int, gallery_photos: int, seed: int) -> dict[str, dict[str, list[Path]]]:
    """{"gallery": {person: photos}, "probe": {...}, "unknown": {...}}, drawn reproducibly."""
    eligible = sorted(name for name, photos in people.items() if len(photos) > gallery_photos)
    if len(eligible) < enrolled:
        raise SystemExit(f"only {len(eligible)} people have more than {gallery_photos} photos; --enrolled {enrolled} is too many")
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(eligible, size=enrolled, replace=False).tolist())
    layout: dict[str, dict[str, list[Path]]] = {"gallery": {}, "probe": {}, "unknown": {}}
    for name in sorted(people):
        photos = list(people[name])
        if name in chosen:
            order = rng.permutation(len(photos))
            layout["gallery"][name] = [photos[i] for i in order[:gallery_photos]]
            layout["probe"][name] = [photos[i] for i in order[gallery_photos:]]
        else:
            layout["unknown"][name] = photos
    return layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="folder of identity subfolders (e.g. ../shared/datasets/celeba-wild-dev)")
    parser.add_argument("--enrolled", type=int, default=60, help="people enrolled (the rest are strangers)")
    parser.add_argument("--gallery-photos", type=int, default=2, help="photos each enrolled person is enrolled from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="new folder to write (default: a fresh temporary folder)")
    args = parser.parse_args(argv)

    people = {p.name: list_images(p) for p in sorted(args.dataset.iterdir()) if p.is_dir()}
    layout = plan_layout(people, args.enrolled, args.gallery_photos, args.seed)
    if args.out is not None:
        out = args.out.resolve()
        if out.is_relative_to(REPO_ROOT) or out.is_relative_to(args.dataset.resolve()):
            parser.error(f"--out {out}: write the layout outside the repository and the dataset")
        out.mkdir(parents=True, exist_ok=False)
    else:
        out = Path(tempfile.mkdtemp(prefix="open-set-"))
    for role, by_person in layout.items():
        for name, photos in by_person.items():
            (out / role / name).mkdir(parents=True)
            for photo in photos:
                shutil.copy2(photo, out / role / name / photo.name)
    counts = {role: {"people": len(by_person), "images": sum(map(len, by_person.values()))} for role, by_person in layout.items()}
    (out / "layout.json").write_text(json.dumps({"dataset": str(args.dataset.resolve()), "seed": args.seed,
                                                  "enrolled": args.enrolled, "gallery_photos": args.gallery_photos,
                                                  "counts": counts}, indent=2) + "\n")
    print(json.dumps(counts), file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
