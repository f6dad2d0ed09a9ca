"""``python -m training quality``: does a learned face-quality scalar beat the hand-made one?

The hand-made measures (``faceapp.quality``) judge pixels: box size, Laplacian sharpness,
yaw, the detector's score. What the app needs to know is whether the *encoding* can be
trusted. This fits a tiny head that predicts, from what the shipped tower already computes,
how far a (possibly webcam-degraded) face's encoding lands from where it should:

- T1, the issue's target: cosine between the mirror-averaged encoding of the degraded crop
  and the centred dlib teacher encoding of the clean image;
- T2, self-consistency: cosine between the degraded crop's encoding and the clean crop's.

Inputs tried (``INPUTS``): ``scalars``, the crop's and its mirror's agreement and the norms
of their pre-normalisation outputs (three numbers); ``onnx``, what the shipped ONNX copy already outputs (the crop's
and its mirror's normalised encodings: their average's direction and their agreement), so
the app can use the head with no network file changed; ``prenorm``, the same plus the norms
of the tower's pre-normalisation outputs; ``pooled``, plus the mean of the last feature map.

Everything is fitted on training identities only; the 500 held-out CelebA identities
(``split_holdout``, seed 0) give an error-versus-reject curve: FNMR at the card's default
1:1 threshold after discarding the lowest-quality probes by each measure. celeba-wild-dev
is only measured (rank correlations), never fitted on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from faceapp.embed import tanh_mlp
from faceapp.model import TowerConfig, build_tower

from .data import FaceSet, attach_teacher, center_teacher, load_faceset, split_holdout, to_tensor
from .degrade import DegradeConfig, WebcamDegrader
from .prepare import load_datasets

STRONG = DegradeConfig(fraction=1.0, face_px=(14.0, 40.0), low_res_p=0.9, blur_p=0.5, blur_sigma=(0.8, 3.0),
                       noise_std=(4.0, 20.0), jpeg_quality=(10.0, 60.0), occlusion_p=0.3, occlusion_area=(0.1, 0.35))
MILD = DegradeConfig(fraction=1.0)
CLEAN_SHARE, MILD_SHARE = 0.2, 0.4  # the rest is STRONG: probes span clean to barely usable
INPUTS = ("scalars", "onnx", "prenorm", "pooled")
DISCARDS = (0.0, 0.05, 0.1, 0.2, 0.3)


def load_shipped(card_path: Path) -> tuple[torch.nn.Module, dict]:
    card = json.loads(card_path.read_text())
    model = build_tower(TowerConfig.from_dict(card["architecture"]["config"]))
    state = torch.load(card_path.with_name(card["weights"]["file"]), map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval(), card


def tower_views(model: torch.nn.Module, crops: np.ndarray) -> dict[str, np.ndarray]:
    """Each crop and its mirror through the tower, with what a quality head may read: the
    two normalised encodings, the norms before normalisation, the pooled last feature map."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [model.head.register_forward_hook(lambda m, i, o: seen.__setitem__("pre", o)),
             model.features.register_forward_hook(lambda m, i, o: seen.__setitem__("maps", o))]
    try:
        with torch.inference_mode():
            both = np.concatenate([crops, crops[:, :, ::-1]])
            unit = model(to_tensor(both)).numpy()
    finally:
        for hook in hooks:
            hook.remove()
    n = len(crops)
    norms = seen["pre"].float().norm(dim=1).numpy()
    pooled = seen["maps"].float().mean(dim=(2, 3)).numpy()
    return {"u1": unit[:n], "u2": unit[n:], "norm1": norms[:n], "norm2": norms[n:],
            "pooled": ((pooled[:n] + pooled[n:]) / 2).astype(np.float16)}


def averaged(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    s = u1 + u2
    return s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)


def degrade_mix(crops: np.ndarray, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Crops made webcam-like at a drawn strength (0 clean, 1 mild, 2 strong), rounded to
    uint8 as the app's crops are."""
    x = to_tensor(crops)
    mild, strong = WebcamDegrader(MILD)(x, generator), WebcamDegrader(STRONG)(x, generator)
    draw = torch.rand(len(crops), generator=generator)
    level = (draw >= CLEAN_SHARE).long() + (draw >= CLEAN_SHARE + MILD_SHARE).long()
    pick = level[:, None, None, None]
    out = torch.where(pick == 0, x, torch.where(pick == 1, mild, strong))
    out = out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return out, level.numpy()


def collect(model: torch.nn.Module, faces: FaceSet, index: np.ndarray, seed: int, batch: int = 64,
            keep_crops: bool = False) -> dict[str, np.ndarray]:
    """Degraded views, their tower readings and both targets for ``faces[index]``."""
    generator = torch.Generator().manual_seed(seed)
    parts: list[dict[str, np.ndarray]] = []
    started = time.monotonic()
    for start in range(0, len(index), batch):
        rows = index[start:start + batch]
        clean = faces.crops[rows]
        bad, level = degrade_mix(clean, generator)
        probe = tower_views(model, bad)
        ref = tower_views(model, clean)
        enc, clean_enc = averaged(probe["u1"], probe["u2"]), averaged(ref["u1"], ref["u2"])
        teacher = faces.teacher[rows]
        t1 = (enc * teacher).sum(1) / np.maximum(np.linalg.norm(teacher, axis=1), 1e-12)
        part = {**probe, "level": level, "clean_enc": clean_enc, "t1": t1, "t2": (enc * clean_enc).sum(1),
                "rows": rows, "labels": faces.labels[rows]}
        if keep_crops:
            part["crops"] = bad
        parts.append(part)
        if (start // batch) % 20 == 0:
            print(f"  {start + len(rows)}/{len(index)} faces, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def head_inputs(views: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """The head's input matrix for one of ``INPUTS``."""
    u1, u2 = views["u1"].astype(np.float32), views["u2"].astype(np.float32)
    agreement = (u1 * u2).sum(1, keepdims=True)
    if kind == "scalars":
        return np.concatenate([agreement, np.log(np.stack([views["norm1"], views["norm2"]], 1))], 1).astype(np.float32)
    x = [averaged(u1, u2), agreement]
    if kind in ("prenorm", "pooled"):
        x.append(np.log(np.stack([views["norm1"], views["norm2"]], 1)))
    if kind == "pooled":
        x.append(views["pooled"].astype(np.float32))
    return np.concatenate(x, 1).astype(np.float32)


def fit_head(x: np.ndarray, y: np.ndarray, hidden: int = 32, epochs: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """A one-hidden-layer tanh MLP regressing the target, full batch with AdamW; returned as
    plain arrays so the app can run it with numpy."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt, yt = torch.from_numpy((x - mean) / std), torch.from_numpy(y.astype(np.float32))
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xt)[:, 0], yt)
        loss.backward()
        opt.step()
    w1, w2 = net[0], net[2]
    return {"mean": mean, "std": std, "w1": w1.weight.detach().numpy().T.copy(), "b1": w1.bias.detach().numpy(),
            "w2": w2.weight.detach().numpy()[0].copy(), "b2": w2.bias.detach().numpy()}


def run_head(head: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """A fitted head over ``x``, through the app's own network (``faceapp.embed.tanh_mlp``)."""
    return tanh_mlp(x, head["mean"], head["std"], head["w1"], head["b1"], head["w2"], head["b2"])


def discard_order(quality: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices from worst to best; ties broken at random, so a coarse measure gets no free order."""
    return np.lexsort((np.random.default_rng(seed).random(len(quality)), quality))


def erc(quality: np.ndarray, genuine: list[np.ndarray], threshold: float) -> list[float]:
    """FNMR at ``threshold`` over the genuine distances of the probes kept after discarding the
    lowest ``DISCARDS`` shares by ``quality``."""
    order = discard_order(quality)
    result = []
    for share in DISCARDS:
        kept = order[int(round(share * len(order))):]
        distances = np.concatenate([genuine[i] for i in kept])
        result.append(float(np.mean(distances > threshold)))
    return result


def erc_subset(qualities: dict[str, np.ndarray], genuine: list[np.ndarray], keep: np.ndarray,
               threshold: float) -> dict[str, list[float]]:
    rows = np.nonzero(keep)[0]
    return {name: erc(q[rows], [genuine[i] for i in rows], threshold) for name, q in qualities.items()}


def handmade(crops: np.ndarray) -> dict[str, np.ndarray]:
    """``faceapp.quality`` on crops: Laplacian sharpness, and ``FaceQuality.value`` with YuNet's
    box, landmarks and score found on the crop itself (0 where it finds no face)."""
    import cv2

    from faceapp.detect import detect_in_crop, load_detector
    from faceapp.quality import assess, sharpness

    cv2.setNumThreads(1)
    detector = load_detector()
    sharp, value = np.empty(len(crops)), np.zeros(len(crops))
    for i, crop in enumerate(crops):
        sharp[i] = sharpness(crop)
        found = detect_in_crop(detector, crop)
        if found:
            value[i] = assess(found[0], crop).value
    return {"sharpness": sharp, "handmade value": value}


def heldout_pairs(views: dict[str, np.ndarray], threshold: float, impostors: int = 20, seed: int = 0) -> tuple[list[np.ndarray], float]:
    """Per probe: distances from its degraded encoding to the clean encodings of its person's
    other photos; and the FMR at ``threshold`` over ``impostors`` random other-person photos each."""
    enc, clean, labels = averaged(views["u1"], views["u2"]), views["clean_enc"], views["labels"]
    rng = np.random.default_rng(seed)
    genuine, false_match = [], []
    for i in range(len(enc)):
        same = np.nonzero((labels == labels[i]) & (np.arange(len(enc)) != i))[0]
        genuine.append(np.linalg.norm(clean[same] - enc[i], axis=1))
        other = rng.choice(np.nonzero(labels != labels[i])[0], impostors, replace=False)
        false_match.append(np.linalg.norm(clean[other] - enc[i], axis=1) <= threshold)
    return genuine, float(np.mean(np.concatenate(false_match)))


def load_split(data: Path, teacher: Path) -> tuple[FaceSet, FaceSet]:
    faces, _ = attach_teacher(load_faceset(load_datasets([data])), teacher)
    train, held = split_holdout(faces, 500, seed=0)
    center_teacher(train, held)
    return train, held


def cached(path: Path, make) -> dict[str, np.ndarray]:
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    arrays = make()
    np.savez(path, **arrays)
    return arrays


def collect_all(args: argparse.Namespace, model: torch.nn.Module) -> tuple[dict, dict, dict]:
    """Held-out probes (with hand-made measures), then training samples in cached chunks."""
    train, held = load_split(args.data, args.teacher)
    rng = np.random.default_rng(args.seed)

    def make_held() -> dict:
        index = np.arange(len(held))[: args.limit_held]
        views = collect(model, held, index, seed=args.seed + 1, keep_crops=True)
        views.update(handmade(views.pop("crops")))
        return views

    held_views = cached(args.out / "held.npz", make_held)
    sample = rng.permutation(len(train))[: args.train_faces]
    chunks = []
    for number, start in enumerate(range(0, len(sample), args.chunk)):
        rows = np.sort(sample[start:start + args.chunk])
        chunks.append(cached(args.out / f"train-{number:02d}.npz",
                             lambda: collect(model, train, rows, seed=args.seed + 100 + number)))
    train_views = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    wild_views = cached(args.out / "wild.npz", lambda: tower_views(model, np.load(args.wild)["crops"]))
    return train_views, held_views, wild_views


def wild_correlations(wild_file: Path, qualities: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Spearman rank correlation of each quality with each face's mean distance to its own
    person's other photos (a good measure: negative) and with its nearest other person's
    photo (a good measure: positive)."""
    with np.load(wild_file) as data:
        enc, people = data["encodings"], data["people"]
    dist = np.linalg.norm(enc[:, None] - enc[None], axis=2)
    same = people[:, None] == people[None]
    np.fill_diagonal(same, False)
    keep = same.any(1)
    genuine = np.where(same, dist, np.nan)[keep]
    mean_genuine = np.nanmean(genuine, 1)
    nearest_other = np.where(people[:, None] != people[None], dist, np.inf).min(1)[keep]
    return {name: {"mean_genuine": float(spearmanr(q[keep], mean_genuine)[0]),
                   "nearest_other": float(spearmanr(q[keep], nearest_other)[0])} for name, q in qualities.items()}


def wild_erc(wild_file: Path, qualities: dict[str, np.ndarray], threshold: float) -> dict[str, list[float]]:
    """FNMR at ``threshold`` over celeba-wild-dev's genuine pairs after discarding the lowest
    ``DISCARDS`` shares of pairs by the pair's lower quality."""
    with np.load(wild_file) as data:
        enc, people = data["encodings"], data["people"]
    i, j = np.triu_indices(len(people), 1)
    same = people[i] == people[j]
    i, j = i[same], j[same]
    distance = np.linalg.norm(enc[i] - enc[j], axis=1)
    result = {}
    for name, q in qualities.items():
        order = discard_order(np.minimum(q[i], q[j]))
        result[name] = [float(np.mean(distance[order[int(round(s * len(order))):]] > threshold)) for s in DISCARDS]
    return result


def wild_faces(folder: Path, card_path: Path, target: Path) -> Path:
    """``--wild`` given as a folder of identity subfolders (``celeba-wild-dev``): each photo's
    central face as the app finds, aligns, encodes and judges it, saved once to ``target``
    (crops, encodings, hand-made quality as size, sharpness, yaw, score, value, and people)."""
    if target.is_file():
        return target
    from faceapp.images import list_images, load_image
    from faceapp.pipeline import open_pipeline

    pipeline = open_pipeline(card_path, None, "cpu", threads=torch.get_num_threads())
    crops, encodings, quality, people = [], [], [], []
    for person in sorted(d for d in folder.iterdir() if d.is_dir()):
        for path in list_images(person):
            encoded = pipeline.encode_central(load_image(path))
            if encoded is None:
                continue
            q = encoded.quality
            crops.append(encoded.crop)
            encodings.append(encoded.encoding)
            quality.append([q.size, q.sharpness, q.yaw, q.score, q.value])
            people.append(person.name)
    np.savez(target, crops=np.stack(crops), encodings=np.stack(encodings), quality=np.array(quality), people=np.array(people))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training quality", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/train.npz"))
    parser.add_argument("--teacher", type=Path, default=Path("../shared/datasets/teacher-dlib.npz"))
    parser.add_argument("--card", type=Path, default=Path("assets/faceapp-encoder.json"))
    parser.add_argument("--wild", type=Path, required=True,
                        help="../shared/datasets/celeba-wild-dev, or an .npz of its crops made from it before (measured only, never fitted)")
    parser.add_argument("--out", type=Path, required=True, help="folder for cached readings, heads and figures")
    parser.add_argument("--train-faces", type=int, default=12000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--limit-held", type=int, help="only the first N held-out faces (a quick trial)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ship", action="store_true",
                        help="write the head training.quality_ship.SHIPPED names beside --card and list it there")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.wild.is_dir():
        args.wild = wild_faces(args.wild, args.card, args.out / "wild-faces.npz")
    model, card = load_shipped(args.card)
    threshold = float(card["thresholds"]["by_far"][card["thresholds"]["default_far"]])
    train_views, held_views, wild_views = collect_all(args, model)
    report, heads = evaluate(train_views, held_views, wild_views, threshold, args)
    if args.ship:
        from .quality_ship import SHIPPED, ship  # it builds on this module's pieces

        report["shipped"] = ship(args.card, heads[SHIPPED], held_views, threshold, report)
    (args.out / "phase1.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def evaluate(train_views: dict, held_views: dict, wild_views: dict, threshold: float,
             args: argparse.Namespace) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """Fit each (input, target) head on training identities; ERC on held-out ones; wild correlations."""
    genuine, fmr = heldout_pairs(held_views, threshold)
    held_q: dict[str, np.ndarray] = {
        "random": np.random.default_rng(1).random(len(genuine)),
        "sharpness": held_views["sharpness"], "handmade value": held_views["handmade value"],
        "prenorm norm": np.log(held_views["norm1"] * held_views["norm2"]),
        "mirror agreement": (held_views["u1"] * held_views["u2"]).sum(1),
        "oracle T2 (true target)": held_views["t2"],
    }
    wild_q: dict[str, np.ndarray] = {"prenorm norm": np.log(wild_views["norm1"] * wild_views["norm2"]),
                                     "mirror agreement": (wild_views["u1"] * wild_views["u2"]).sum(1)}
    with np.load(args.wild) as data:
        wild_q["handmade value"], wild_q["sharpness"] = data["quality"][:, 4], data["quality"][:, 1]
    heads, fits = {}, {}
    for kind in INPUTS:
        x_train, x_held, x_wild = (head_inputs(v, kind) for v in (train_views, held_views, wild_views))
        for target in ("t1", "t2"):
            head = fit_head(x_train, train_views[target])
            name = f"learned {target.upper()} [{kind}]"
            heads[name] = head
            pred = run_head(head, x_held)
            held_q[name], wild_q[name] = pred, run_head(head, x_wild)
            fits[name] = {"train_mse": float(np.mean((run_head(head, x_train) - train_views[target]) ** 2)),
                          "held_mse": float(np.mean((pred - held_views[target]) ** 2)),
                          "held_spearman": float(spearmanr(pred, held_views[target])[0])}
    np.savez(args.out / "heads.npz", **{f"{n}|{k}": v for n, h in heads.items() for k, v in h.items()})
    return {
        "threshold": threshold, "held_probes": len(genuine), "held_genuine_pairs": int(sum(map(len, genuine))),
        "held_fmr_at_threshold": fmr, "train_faces": int(len(train_views["t1"])),
        "discards": list(DISCARDS),
        "held_fnmr_by_discard": {name: erc(q, genuine, threshold) for name, q in held_q.items()},
        "fits": fits,
        "held_fnmr_by_discard_clean_or_mild": erc_subset(held_q, genuine, held_views["level"] <= 1, threshold),
        "wild_spearman": wild_correlations(args.wild, wild_q),
        "wild_fnmr_by_discard": wild_erc(args.wild, wild_q, threshold),
    }, heads


if __name__ == "__main__":
    sys.exit(main())
