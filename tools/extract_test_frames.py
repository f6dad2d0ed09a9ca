"""Extract the face photos in ``tests/data/faces`` from the CC BY 4.0 clips in ``../shared/videos``.

The tests need real faces of two or more people that a user's clone has without ``../shared``
(LFW and the other datasets cannot be redistributed). The clips from Intel's "sample-videos"
(CC BY 4.0) may be excerpted with attribution, so a few of their frames live in the repository;
``tests/data/README.md`` says which and credits them.

    python tools/extract_test_frames.py                  # write the photos, then check them
    python tools/extract_test_frames.py --check-only     # only check the photos already there

Each photo is a SIZE x SIZE crop of one decoded frame (0-based index in the order OpenCV decodes
them), centred on the face the shipped YuNet finds in it (shifted inside the frame where the
face is near an edge), at the clip's own resolution (never scaled), saved as JPEG quality 95.
Every photo has the same size so tests can put two side by side. The checks, which the
photos must pass before they are committed:

- the app's own detector (the shipped YuNet, the still-photo rule, the default score) finds
  exactly one face in each photo;
- with the shipped encoder, every photo of person E from one clip matches every one from the
  other clip at the model card's default threshold, and no photo of anyone else matches any
  photo of E.

The distances are printed, so a new encoder or detector can be judged against these photos.
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # runnable from a checkout without installing faceapp

from faceapp.detect import YuNetDetector, load_detector, shipped_yunet_path  # noqa: E402
from faceapp.embed import load_encoder  # noqa: E402
from faceapp.images import list_images, load_image  # noqa: E402
from faceapp.pipeline import Pipeline  # noqa: E402

SIZE = 144  # E's face is about half of this: a loose crop, as LFW's photos are
JPEG_QUALITY = 95
E = "person-e"

# (folder = identity, clip, frames). E's frames are ones where his hands are clear of his face
# and his head is not tilted far back; across the two clips his head pose differs enough that
# frames with a similar pose were chosen, so that the two clips match at the default threshold.
# The doorway clip is filmed from above: its faces are small and turned away from the camera
# (no frame shows anyone frontally, and YuNet also "finds" the backs of heads there), so these
# are frames of three people passing through where their glasses, nose and cheek show, and
# whose face the app's detector still finds once the crop is letterboxed into a 640x480 video
# frame (tests make videos that way).
SELECTION: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    (E, "person-e-hungry.mkv", (16, 20, 23, 27, 32, 37, 39, 42)),
    (E, "person-e-want.mkv", (12, 14, 16, 18, 26, 28, 31, 33)),
    ("doorway-1", "doorway-one-by-one.mp4", (687, 688, 689)),
    ("doorway-2", "doorway-one-by-one.mp4", (855, 857, 858)),
    ("doorway-3", "doorway-one-by-one.mp4", (1347, 1349, 1351)),
)


def photo_name(clip: str, frame: int) -> str:
    """E's file names keep the clip apart (``hungry-0016.jpg``); every name carries its frame."""
    stem = clip.rsplit(".", 1)[0].removeprefix("person-e-").removesuffix("-one-by-one")
    return f"{stem}-{frame:04d}.jpg"


def read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted frames of a video, as RGB."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f"cannot open {path}")
    frames, index = {}, 0
    try:
        while len(frames) < len(wanted):
            ok, bgr = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    missing = sorted(wanted - set(frames))
    if missing:
        raise SystemExit(f"{path.name} has no frames {missing}")
    return frames


def face_crop(frame: np.ndarray, locator: YuNetDetector) -> np.ndarray:
    """The SIZE x SIZE crop centred on the most confident face (hands score lower than E's face)."""
    faces = locator.detect(frame)
    if not faces:
        raise SystemExit("no face found in a selected frame")
    x, y, w, h = max(faces, key=lambda d: d.score).box
    height, width = frame.shape[:2]
    left = int(np.clip(round(x + w / 2 - SIZE / 2), 0, width - SIZE))
    top = int(np.clip(round(y + h / 2 - SIZE / 2), 0, height - SIZE))
    return frame[top : top + SIZE, left : left + SIZE]


def extract(videos: Path, out: Path) -> None:
    # Full resolution and a lower score than the app's default, only to locate the doorway's
    # small faces in whole frames; the checks then use the app's own settings on the crops.
    locator = YuNetDetector(shipped_yunet_path(), score_threshold=0.5, max_side=10_000)
    for folder, clip, frames in SELECTION:
        (out / folder).mkdir(parents=True, exist_ok=True)
        for index, frame in read_frames(videos / clip, set(frames)).items():
            crop = face_crop(frame, locator)
            path = out / folder / photo_name(clip, index)
            if not cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise SystemExit(f"cannot write {path}")
            print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")


def check(out: Path) -> bool:
    pipeline = Pipeline(load_detector(), load_encoder(REPO_ROOT / "assets" / "faceapp-encoder.json", device="cpu"))
    threshold = pipeline.encoder.card.default_threshold
    ok = True
    encodings: dict[Path, np.ndarray] = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        for path in list_images(folder):
            image = load_image(path)
            faces = pipeline.find_faces(image, still=True)
            if len(faces) != 1 or image.shape[:2] != (SIZE, SIZE):
                print(f"FAIL {path.name}: {len(faces)} faces, {image.shape[1]}x{image.shape[0]} pixels")
                ok = False
                continue
            encodings[path] = pipeline.encode(image, faces)[0].encoding
            print(f"{folder.name}/{path.name}: face {faces[0].box[2]:.0f}x{faces[0].box[3]:.0f} px, score {faces[0].score:.2f}")

    def group(condition) -> list[Path]:
        return sorted(p for p in encodings if condition(p))

    hungry = group(lambda p: p.parent.name == E and p.name.startswith("hungry"))
    want = group(lambda p: p.parent.name == E and p.name.startswith("want"))
    others = group(lambda p: p.parent.name != E)
    if not (hungry and want and others):
        print("FAIL: photos of E from both clips and of someone else are needed")
        return False
    stack = lambda paths: np.stack([encodings[p] for p in paths])  # noqa: E731
    across = np.linalg.norm(stack(hungry)[:, None] - stack(want)[None], axis=2)
    print(f"\ndefault threshold {threshold:.4f}")
    print(f"E, hungry x want ({across.size} pairs): min {across.min():.3f}, median {np.median(across):.3f}, max {across.max():.3f}")
    if across.max() > threshold:
        print("FAIL: some of E's photos from the two clips do not match each other")
        ok = False
    everyone_e = stack(hungry + want)
    for path in others:
        nearest = float(np.linalg.norm(everyone_e - encodings[path], axis=1).min())
        print(f"{path.parent.name}/{path.name}: nearest photo of E at {nearest:.3f}")
        if nearest <= threshold:
            print(f"FAIL: {path.name} matches E")
            ok = False
    people = sorted({p.parent.name for p in others})
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            d = np.linalg.norm(stack(group(lambda p: p.parent.name == a))[:, None] - stack(group(lambda p: p.parent.name == b))[None], axis=2)
            print(f"{a} x {b}: min {d.min():.3f}")
        same = stack(group(lambda p: p.parent.name == a))
        d = np.linalg.norm(same[:, None] - same[None], axis=2)[np.triu_indices(len(same), 1)]
        print(f"{a} x itself: max {d.max():.3f}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=REPO_ROOT.parent / "shared" / "videos", help="folder of the sample clips")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "data" / "faces")
    parser.add_argument("--check-only", action="store_true", help="check the photos in --out without extracting")
    args = parser.parse_args(argv)
    if not args.check_only:
        extract(args.videos, args.out)
    return 0 if check(args.out) else 1


if __name__ == "__main__":
    sys.exit(main())
