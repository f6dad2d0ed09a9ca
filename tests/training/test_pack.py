"""Specification of training.pack: a prepared dataset packed as WebP parts (for a GPU machine)
reads back as the same faces, labels, provenance and teacher encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data import PACKED_TEACHER, attach_teacher, load_faceset, use_packed_teacher
from training.pack import decode_crops, encode_crops, main as pack_main, pack, split_parts
from training.prepare import load_dataset, load_datasets, save_dataset


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def by_path(arrays: dict) -> np.ndarray:
    return np.argsort(arrays["paths"].astype(str))


def test_split_parts_keeps_each_part_under_the_limit_and_covers_every_item() -> None:
    parts = split_parts(np.array([4, 4, 4, 9, 1, 1]), max_bytes=8)
    assert [p.tolist() for p in parts] == [[0, 1], [2], [3], [4, 5]]  # 9 > 8 still gets a part of its own


def test_webp_round_trip_keeps_real_faces_close(tiny_prepared: dict) -> None:
    crops = tiny_prepared["arrays"]["crops"]
    encoded = encode_crops(crops, quality=75)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])])
    decoded = decode_crops(np.frombuffer(b"".join(encoded), np.uint8), offsets)
    assert decoded.shape == crops.shape and decoded.dtype == np.uint8
    assert np.mean([len(b) for b in encoded]) < crops[0].nbytes / 8  # the point of packing
    assert psnr(decoded, crops) > 30  # and still the same faces (the full set measured 36.6 dB)


def test_packed_parts_read_back_as_the_prepared_dataset(tiny_prepared: dict, teacher_npz: Path, tmp_path: Path) -> None:
    arrays = tiny_prepared["arrays"]
    parts = pack(arrays, tmp_path / "pack", quality=90, max_part_mib=0.05, teacher_file=teacher_npz)
    assert len(parts) >= 2 and all(p.stat().st_size <= 0.05 * 2**20 * 1.1 for p in parts)
    joined = load_datasets(parts)
    assert len(joined["labels"]) == len(arrays["labels"])
    mine, theirs = by_path(joined), by_path(arrays)
    assert np.array_equal(joined["paths"][mine], arrays["paths"][theirs])
    assert np.array_equal(joined["labels"][mine], arrays["labels"][theirs])  # labels stay global across parts
    assert np.array_equal(joined["identities"], arrays["identities"])
    assert psnr(joined["crops"][mine], arrays["crops"][theirs]) > 30

    # The packed teacher is the teacher file's encodings, joined by the same paths.
    packed, dropped = use_packed_teacher(load_faceset(joined), joined)
    from_file, missing = attach_teacher(load_faceset(joined), teacher_npz)
    assert dropped == missing == 0
    np.testing.assert_allclose(packed.teacher, from_file.teacher, atol=1e-3)  # float16 either way


def test_parts_of_different_datasets_are_refused(tiny_prepared: dict, tmp_path: Path) -> None:
    arrays = tiny_prepared["arrays"]
    first = pack(arrays, tmp_path / "a", max_part_mib=1.0)[0]
    other = {**arrays, "identities": arrays["identities"][::-1].copy()}
    second = pack(other, tmp_path / "b", max_part_mib=1.0)[0]
    with pytest.raises(ValueError, match="different dataset"):
        load_datasets([first, second])


def test_packed_teacher_is_asked_for_but_missing(tiny_prepared: dict, tmp_path: Path) -> None:
    (part,) = pack(tiny_prepared["arrays"], tmp_path / "pack", max_part_mib=1.0)
    arrays = load_dataset(part)
    with pytest.raises(ValueError, match="no teacher encodings"):
        use_packed_teacher(load_faceset(arrays), arrays)
    assert PACKED_TEACHER == "packed"


def test_a_damaged_part_says_so(tiny_prepared: dict, tmp_path: Path) -> None:
    (part,) = pack(tiny_prepared["arrays"], tmp_path / "pack", max_part_mib=1.0)
    arrays = load_dataset(part)  # decodes fine before the damage
    with np.load(part) as data:
        damaged = {k: data[k] for k in data.files}
    damaged["webp_bytes"] = np.zeros_like(damaged["webp_bytes"])
    save_dataset(part, damaged)
    with pytest.raises(ValueError, match="damaged"):
        load_dataset(part)
    assert len(arrays["labels"]) == len(tiny_prepared["arrays"]["labels"])


def test_pack_command_reports_parts_and_size(tiny_prepared: dict, teacher_npz: Path, tmp_path: Path, capsys) -> None:
    assert pack_main([str(tiny_prepared["npz"]), "--out", str(tmp_path / "pack"), "--teacher", str(teacher_npz)]) == 0
    out = capsys.readouterr().out
    assert f"{len(tiny_prepared['arrays']['labels'])} faces -> 1 part(s)" in out and "smaller than the raw crops" in out
    assert "teacher" in load_dataset(tmp_path / "pack" / "part-00.npz")
