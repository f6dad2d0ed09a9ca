"""Shipping the learned quality head (``python -m training quality --ship``): its cut-offs, the
ONNX copy's ``prenorm_norm`` output, the head's file and the card's ``quality`` entry.

Kept apart from the study in ``training/quality_head.py``, which fits and measures every
candidate head; this module writes into ``assets/`` only what the study chose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .quality_head import heldout_pairs, head_inputs, run_head

def cutoffs(quality: np.ndarray, genuine: list[np.ndarray], level: np.ndarray, threshold: float,
            bins: int = 25, clean_share: float = 0.05) -> dict[str, float]:
    """The judge cut-off: below it, held-out probes were on average farther from their own
    person's other photos than the 1:1 threshold (the rule of ``decide.JudgeLimits``), read
    from quantile bins walked down from the best. The enrollment cut-off: what all but
    ``clean_share`` of undegraded held-out photos reach, and never below the judge's."""
    mean_genuine = np.array([g.mean() for g in genuine])
    edges = np.quantile(quality, np.linspace(0, 1, bins + 1))
    judge = float(edges[0])
    for b in range(bins - 1, -1, -1):
        inside = (quality >= edges[b]) & (quality <= edges[b + 1])
        if mean_genuine[inside].mean() > threshold:
            judge = float(edges[b + 1])
            break
    enroll = max(judge, float(np.quantile(quality[level == 0], clean_share)))
    return {"enroll": round(enroll, 4), "judge": round(judge, 4)}


def with_prenorm_output(source: Path, target: Path) -> None:
    """The shipped ONNX graph with each image's pre-normalisation norm as a second output
    (``faceapp.embed.PRENORM_OUTPUT``); the encodings' nodes are left exactly as they are."""
    import onnx
    from onnx import TensorProto, helper

    from faceapp.embed import PRENORM_OUTPUT

    model = onnx.load(str(source))
    if any(o.name == PRENORM_OUTPUT for o in model.graph.output):
        return
    norm = next(n for n in model.graph.node if n.op_type == "ReduceL2" and n.output[0] in
                {i for m in model.graph.node if m.op_type == "Clip" for i in m.input})
    model.graph.node.append(helper.make_node("Identity", [norm.output[0]], [PRENORM_OUTPUT]))
    model.graph.output.append(helper.make_tensor_value_info(PRENORM_OUTPUT, TensorProto.FLOAT, ["batch", 1]))
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


SHIPPED_KIND, SHIPPED_TARGET = "scalars", "t1"
SHIPPED = f"learned {SHIPPED_TARGET.upper()} [{SHIPPED_KIND}]"  # the study's name for the head that ships
QUALITY_FILE = "faceapp-encoder-quality.json"


def ship(card_path: Path, head: dict[str, np.ndarray], held_views: dict, threshold: float, report: dict) -> dict:
    """Write the head beside the card, give the ONNX copy its ``prenorm_norm`` output (only
    after checking its encodings are unchanged) and list both in the card; the weights file,
    and so the model id, are not touched. Returns the card's new ``quality`` entry."""
    import onnxruntime as ort

    from faceapp.embed import QUALITY_INPUTS
    from faceapp.images import file_sha256

    onnx_path = card_path.with_name(json.loads(card_path.read_text())["onnx"]["file"])
    rebuilt = onnx_path.with_name(onnx_path.name + ".part")
    with_prenorm_output(onnx_path, rebuilt)
    if rebuilt.is_file():
        probe = (np.random.default_rng(0).random((4, 3, 112, 112)) * 255).astype(np.float32)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        before, after = (ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]).run(None, {"images": probe})[0]
                         for p in (onnx_path, rebuilt))
        if np.abs(before - after).max() > 1e-6:
            raise RuntimeError("the ONNX copy's encodings changed: not shipped")
        rebuilt.replace(onnx_path)
    onnx_entry = {"sha256": file_sha256(onnx_path), "bytes": onnx_path.stat().st_size,
                  "output": "encodings (N, dim); prenorm_norm (N, 1): each image's norm before L2 normalisation "
                            "(the quality head's input; encodings unchanged by adding it)"}
    quality = run_head(head, head_inputs(held_views, SHIPPED_KIND))
    genuine, _ = heldout_pairs(held_views, threshold)
    cut = cutoffs(quality, genuine, held_views["level"], threshold)
    head_file = card_path.with_name(QUALITY_FILE)
    head_file.write_text(json.dumps({"inputs": QUALITY_INPUTS, **{k: np.asarray(v, np.float64).tolist() for k, v in head.items()},
                                     "b2": float(np.asarray(head["b2"]).reshape(-1)[0])}) + "\n")
    name = SHIPPED
    entry = {
        "file": QUALITY_FILE, "sha256": file_sha256(head_file),
        "input": "per face, from the crop's and its mirror's passes: cosine between their encodings, log of each "
                 "pass's pre-normalisation norm (the ONNX copy's prenorm_norm output)",
        "output": "predicted cosine between the face's encoding and dlib's centred encoding of a clean copy; higher is better",
        "target": "T1: cosine(mirror-averaged encoding of a webcam-degraded crop, centred dlib teacher encoding of the clean image)",
        "fitted": f"3-32-1 tanh MLP, MSE, AdamW, full batch; {report['train_faces']} crops of training identities "
                  "(500 CelebA identities held out, seed 0) degraded 20% clean / 40% DegradeConfig(fraction=1) / 40% stronger; "
                  "python -m training quality --ship",
        "cutoffs": cut,
        "enforce": False,
        "enforce_note": "off: the app carries the value (FaceQuality.learned) but refuses nothing by it. The cut-offs come "
                        "from degraded-vs-clean CelebA comparisons and do not transfer to webcam-to-webcam matching: the "
                        "in-repo webcam shots of person E (tests/data/faces), which match each other across clips at the "
                        "default threshold, all score below them. Set true only after checking on webcam enrollments.",
        "cutoffs_rule": "judge: below it, held-out probes' mean distance to their person's other photos exceeded the default "
                        "1:1 threshold (25 quantile bins); enroll: reached by 95% of undegraded held-out photos, never below judge",
        "held_out": {
            "probes": report["held_probes"], "discards": report["discards"],
            "fnmr_at_default_threshold_by_discard": {k: [round(x, 4) for x in report["held_fnmr_by_discard"][k]]
                                                     for k in (name, "handmade value", "sharpness", "random")},
            "below_judge": round(float(np.mean(quality < cut["judge"])), 4),
            "below_enroll": round(float(np.mean(quality < cut["enroll"])), 4),
            "undegraded_below_enroll": round(float(np.mean(quality[held_views["level"] == 0] < cut["enroll"])), 4),
        },
    }
    raw = json.loads(card_path.read_text())  # again: another tool may have written it meanwhile
    raw["onnx"].update(onnx_entry)
    raw["quality"] = entry
    card_path.write_text(json.dumps(raw, indent=2) + "\n")
    return entry
