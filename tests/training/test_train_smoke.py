"""Smoke test of training.train: two real CPU steps on real faces, checkpoints, and resuming."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from faceapp.model import TowerConfig, build_tower
from training.engine import kept_weights
from training.export import training_stages
from training.train import TrainConfig, train

TINY_TOWER = {"widths": (8, 16, 16, 16), "blocks": (1, 1, 1)}


def tiny_config(tiny_prepared: dict, teacher_npz: Path, out: Path, **overrides) -> TrainConfig:
    """2 steps of a P x K = 4 x 2 batch on a tiny tower, teacher on, 2 CelebA people held out."""
    values = dict(
        data=str(tiny_prepared["npz"]),
        out=str(out),
        teacher=str(teacher_npz),
        holdout_identities=2,
        epochs=1,
        steps_per_epoch=2,
        p=4,
        k=2,
        device="cpu",
        **TINY_TOWER,
    )
    values.update(overrides)
    return TrainConfig(**values)


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_two_step_training_writes_checkpoints_and_resumes(tiny_prepared: dict, teacher_npz: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    result = train(tiny_config(tiny_prepared, teacher_npz, run))

    # One epoch: checkpoint, best model, config and one log line with finite numbers.
    for name in ("checkpoint.pt", "best.pt", "log.jsonl", "config.json"):
        assert (run / name).is_file(), name
    log = read_log(run)
    assert [entry["epoch"] for entry in log] == [1]
    for key in ("loss", "triplet", "teacher", "holdout_accuracy"):
        assert math.isfinite(log[0][key]), key
    assert log[0]["teacher"] > 0  # the teacher term was on
    assert 0.0 <= log[0]["holdout_accuracy"] <= 1.0
    assert result["best"] == log[0]["holdout_accuracy"]
    config = json.loads((run / "config.json").read_text())
    assert config["data_info"] == {
        "prepared_images": 35, "images_without_teacher": 0,
        "train_images": 25, "train_identities": 5, "holdout_images": 10, "holdout_identities": 2,
    }
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    assert checkpoint["epoch"] == 1
    assert checkpoint["tower"] == TowerConfig(**TINY_TOWER).to_dict()
    best = torch.load(run / "best.pt", weights_only=False)
    build_tower(TowerConfig.from_dict(best["tower"])).load_state_dict(best["model"])  # loads cleanly
    assert all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())
    epoch1_weights = {k: v.clone() for k, v in checkpoint["model"].items()}
    capsys.readouterr()

    # Asked for 2 epochs in the same folder: it resumes at epoch 2 instead of starting over.
    train(tiny_config(tiny_prepared, teacher_npz, run, epochs=2))
    assert "resumed from" in capsys.readouterr().out
    log = read_log(run)
    assert [entry["epoch"] for entry in log] == [1, 2]
    assert log[1]["trained_seconds"] > log[0]["trained_seconds"]
    assert math.isclose(log[1]["trained_seconds"], log[0]["trained_seconds"] + log[1]["epoch_seconds"], rel_tol=1e-9)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    assert checkpoint["epoch"] == 2
    changed = [k for k, v in checkpoint["model"].items() if v.is_floating_point() and not torch.equal(v, epoch1_weights[k])]
    assert changed  # epoch 2 trained on from epoch 1's weights

    # Nothing left to do: a third call with the same target trains no further epoch.
    train(tiny_config(tiny_prepared, teacher_npz, run, epochs=2))
    assert [entry["epoch"] for entry in read_log(run)] == [1, 2]


def test_training_without_teacher_logs_a_zero_teacher_term(tiny_prepared: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TrainConfig(data=str(tiny_prepared["npz"]), out=str(run), holdout_identities=2, epochs=1, steps_per_epoch=1,
                      p=4, k=2, device="cpu", miner="semi-hard", soft_margin=True, **TINY_TOWER))
    (entry,) = read_log(run)
    assert entry["teacher"] == 0.0 and math.isfinite(entry["triplet"]) and entry["triplet"] > 0
    assert np.isfinite(entry["loss"]) and entry["loss"] == entry["triplet"]


def test_a_cosface_term_is_added_with_an_imprinted_head_kept_for_resuming(
    tiny_prepared: dict, teacher_npz: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train(tiny_config(tiny_prepared, teacher_npz, run, cosface_weight=1.0, cosface_margin=0.2, cosface_scale=16.0))
    (entry,) = read_log(run)
    assert entry["cosface"] > 0 and math.isfinite(entry["cosface"])
    assert entry["loss"] > entry["triplet"] + 2.0 * entry["teacher"]  # the term is in the total
    head = torch.load(run / "checkpoint.pt", weights_only=False)["head"]["weight"]
    assert head.shape == (5, 128)  # one vector per training identity (5 here)
    assert "head" not in torch.load(run / "best.pt", weights_only=False)  # the tower alone ships

    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    marked = torch.zeros_like(head)
    marked[:, 0] = 1.0  # a head no imprinting would give: seen again after resuming, it was restored
    checkpoint["head"]["weight"] = marked
    torch.save(checkpoint, run / "checkpoint.pt")
    train(tiny_config(tiny_prepared, teacher_npz, run, epochs=2, cosface_weight=1.0, cosface_margin=0.2, cosface_scale=16.0))
    resumed = torch.load(run / "checkpoint.pt", weights_only=False)["head"]["weight"]
    assert not torch.equal(resumed, marked) and (resumed - marked).abs().max() < 0.05  # trained on, from the saved head
    stages = training_stages(run, 2)
    assert stages[-1]["cosface_weight"] == 1.0


def test_fine_tuning_with_ema_and_the_distance_term_starts_from_given_weights(
    tiny_prepared: dict, teacher_npz: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    train(tiny_config(tiny_prepared, teacher_npz, first))
    start = torch.load(first / "best.pt", weights_only=False)["model"]

    # One step at a vanishing learning rate with a slow average: the kept weights are still
    # (almost) the ones it started from, so --init really loaded them.
    run = tmp_path / "fine-tuned"
    train(tiny_config(tiny_prepared, teacher_npz, run, init=str(first / "best.pt"), ema_decay=0.99,
                      teacher_distance_weight=5.0, steps_per_epoch=1, lr=1e-9, warmup_steps=1))
    (entry,) = read_log(run)
    assert entry["teacher_distance"] > 0 and math.isfinite(entry["loss"])
    assert entry["loss"] == pytest.approx(entry["triplet"] + 2.0 * entry["teacher"] + 5.0 * entry["teacher_distance"], rel=1e-5)
    kept = torch.load(run / "best.pt", weights_only=False)["model"]
    assert set(kept) == set(start)  # the EMA is saved with the tower's own keys, ready to export
    for name, value in start.items():
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(kept[name], value, atol=1e-4, rtol=1e-4)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    assert "ema" in checkpoint  # resumable, and exportable from the checkpoint too
    assert kept_weights(checkpoint).keys() == start.keys()
    for name, value in kept_weights(checkpoint).items():
        torch.testing.assert_close(value, kept[name])  # best.pt of the only epoch is that same EMA

    # The model card's lineage: the first run (to its epoch 1), then this fine-tune.
    stages = training_stages(run, 1)
    assert [stage["run"] for stage in stages] == ["first", "fine-tuned"]
    assert stages[1]["init"] == str(first / "best.pt") and stages[1]["ema_decay"] == 0.99
    assert stages[0]["teacher_distance_weight"] == 0.0 and stages[1]["teacher_distance_weight"] == 5.0
    assert [len(stage["history"]) for stage in stages] == [1, 1]


def test_fit_minutes_chooses_the_epochs_and_a_resume_keeps_them(tiny_prepared: dict, teacher_npz: Path, tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    import training.train
    from training.pack import pack

    # A calibration that ran under less contention than the run (as with other processes still
    # starting on a shared GPU): it over-plans threefold, and the refit after epoch 1 corrects it.
    guesses = []
    real_fit_epochs = training.train.fit_epochs
    monkeypatch.setattr(training.train, "fit_epochs", lambda *args: guesses.append(3 * real_fit_epochs(*args)) or guesses[-1])

    parts = pack(tiny_prepared["arrays"], tmp_path / "pack", max_part_mib=0.05, teacher_file=teacher_npz)
    assert len(parts) >= 2
    run = tmp_path / "run"
    config = tiny_config(tiny_prepared, teacher_npz, run, data=[str(p) for p in parts], teacher="packed",
                         epochs=1000, fit_minutes=0.03, warmup_steps=1)
    train(config)
    printed = capsys.readouterr().out
    assert any(line.startswith("fit: ") for line in printed.splitlines())
    # After the real first epoch it re-plans, and the schedule follows the new end.
    (refit,) = [line for line in printed.splitlines() if line.startswith("refit: epoch 1 took ")]
    chosen = json.loads((run / "config.json").read_text())["epochs_run"]
    assert refit.endswith(f"-> {chosen} epochs in 0.03 min")
    assert 1 <= chosen < guesses[0] < 1000  # the budget, not --epochs, set the length
    log = read_log(run)
    assert [entry["epoch"] for entry in log] == list(range(1, chosen + 1))
    assert log[-1]["lr"] < 0.05 * config.lr  # the cosine annealed to (about) zero at the re-planned end
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epochs"] == chosen
    assert json.loads((run / "config.json").read_text())["data_info"]["prepared_images"] == 35  # both parts

    # Run again: it resumes with the schedule it chose (done already) and times nothing.
    train(config)
    printed = capsys.readouterr().out
    assert "fit: " not in printed and "refit: " not in printed
    assert len(read_log(run)) == chosen


def test_init_accepts_the_shipped_plain_state_dict(shipped_model_card: Path) -> None:
    plain = torch.load(shipped_model_card.with_suffix(".pt"), weights_only=True)
    assert kept_weights(plain) is plain
    build_tower().load_state_dict(kept_weights(plain))


def test_cpu_autocast_is_on_only_where_the_cpu_has_native_bf16() -> None:
    from training.engine import autocast, cpu_has_fast_bf16

    with autocast(torch.device("cpu"), True):
        assert torch.is_autocast_enabled("cpu") == cpu_has_fast_bf16()
    with autocast(torch.device("cpu"), False):
        assert not torch.is_autocast_enabled("cpu")


def test_validation_scores_the_encodings_the_app_will_compute(tiny_prepared: dict) -> None:
    from training.data import FaceSet
    from training.engine import embed_crops, holdout_pairs, pair_accuracy
    from training.prepare import load_dataset
    from training.train import validate

    data = load_dataset(tiny_prepared["npz"])
    held = FaceSet(data["crops"], data["labels"], data["paths"])
    mirrored = FaceSet(np.ascontiguousarray(data["crops"][:, :, ::-1]), data["labels"], data["paths"])
    pairs = holdout_pairs(held.labels, seed=0)
    torch.manual_seed(0)
    model = build_tower(TowerConfig(**TINY_TOWER)).eval()
    cpu = torch.device("cpu")
    single = validate(model, cpu, held, pairs, None, mirror=False)["holdout_accuracy"]
    assert single == pair_accuracy(embed_crops(model, held.crops, cpu), *pairs)
    # Mirror-averaged encodings are the same for a face and its mirror image, so the score is too.
    averaged = validate(model, cpu, held, pairs, None, mirror=True)["holdout_accuracy"]
    assert averaged == validate(model, cpu, mirrored, pairs, None, mirror=True)["holdout_accuracy"]
    assert averaged == pair_accuracy(embed_crops(model, held.crops, cpu, mirror_average=True), *pairs)
    assert TrainConfig(data="", out="").val_mirror  # the default, as export ships the encoder
