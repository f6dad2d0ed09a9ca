"""Specification of training data: prepare (detect + align into an .npz), augmentation,
held-out splits and the teacher join, all on real face images."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from faceapp.images import list_images, load_image
from training.data import FaceSet, attach_teacher, augment, center_teacher, load_faceset, split_holdout, to_tensor
from training.prepare import DETECTED, FALLBACK, load_dataset, main as prepare_main, prepare


@pytest.fixture(scope="module")
def real_crops(shared_dir: Path) -> np.ndarray:
    """Eight 112x112 CelebA face crops, uint8 RGB."""
    folders = sorted((shared_dir / "datasets" / "celeba-aligned").iterdir())[:4]
    crops = np.stack([load_image(p) for folder in folders for p in list_images(folder)[:2]])
    assert crops.shape == (8, 112, 112, 3)
    return crops


# -- prepare -------------------------------------------------------------------------------


def test_prepare_detects_aligns_and_labels_every_image(tiny_prepared: dict) -> None:
    arrays, report = tiny_prepared["arrays"], tiny_prepared["report"]
    people = [f"{d}/{p}" for d, names in tiny_prepared["people"].items() for p in names]
    n = len(people) * 5
    assert report.images == n and not report.skipped
    assert report.detected + report.fallback == n
    assert report.detected >= n - 3  # these are clear frontal faces: YuNet finds nearly all
    assert arrays["crops"].shape == (n, 112, 112, 3) and arrays["crops"].dtype == np.uint8
    assert arrays["identities"].tolist() == people
    assert np.bincount(arrays["labels"]).tolist() == [5] * len(people)
    assert int((arrays["method"] == DETECTED).sum()) == report.detected
    assert int((arrays["method"] == FALLBACK).sum()) == report.fallback
    # Provenance paths are relative to the root, dataset first: the teacher file's keys.
    for path, label in zip(arrays["paths"], arrays["labels"]):
        assert str(path).startswith(people[label] + "/")
        assert (tiny_prepared["root"] / str(path)).is_file()


def test_prepared_file_round_trips(tiny_prepared: dict) -> None:
    loaded = load_dataset(tiny_prepared["npz"])
    for key, value in tiny_prepared["arrays"].items():
        assert np.array_equal(loaded[key], value), key
    faces = load_faceset(loaded)
    assert faces.labels.dtype == np.int64 and len(faces) == len(loaded["crops"]) and faces.teacher is None


@pytest.fixture
def folder_with_a_blank(shared_dir: Path, tmp_path: Path) -> Path:
    """tmp/faces/Hugh_Jackman: 3 real photos and one plain grey image with no face."""
    person = tmp_path / "faces" / "Hugh_Jackman"
    person.mkdir(parents=True)
    for image in list_images(shared_dir / "datasets" / "glint-celeb" / "Hugh_Jackman")[:3]:
        shutil.copy(image, person / image.name)
    cv2.imwrite(str(person / "zz_blank.png"), np.full((112, 112, 3), 128, np.uint8))
    return tmp_path / "faces"


def test_prepare_counts_a_faceless_image_as_a_centre_crop_fallback(folder_with_a_blank: Path, yunet_detector) -> None:
    arrays, report = prepare([folder_with_a_blank], folder_with_a_blank.parent, yunet_detector, progress=False)
    assert report.images == 4 and report.fallback == 1 and report.detected == 3 and not report.skipped
    blank = arrays["paths"].tolist().index("faces/Hugh_Jackman/zz_blank.png")
    assert arrays["method"][blank] == FALLBACK
    assert np.all(arrays["crops"][blank] == 128)  # the centre crop of the grey image
    assert "1 not found and centre-cropped" in report.summary()


def test_prepare_without_fallback_skips_and_reports_the_faceless_image(folder_with_a_blank: Path, yunet_detector) -> None:
    arrays, report = prepare([folder_with_a_blank], folder_with_a_blank.parent, yunet_detector, fallback=False, progress=False)
    assert report.skipped == ["faces/Hugh_Jackman/zz_blank.png"]
    assert report.detected == 3 and report.fallback == 0 and len(arrays["crops"]) == 3


def test_prepare_drops_identities_with_too_few_usable_images(folder_with_a_blank: Path, yunet_detector) -> None:
    arrays, _ = prepare([folder_with_a_blank], folder_with_a_blank.parent, yunet_detector, fallback=False, min_images=4, progress=False)
    assert len(arrays["crops"]) == 0 and len(arrays["identities"]) == 0


def test_prepare_cli_refuses_lfw(lfw_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "lfw.npz"
    with pytest.raises(SystemExit) as exit_info:
        prepare_main([str(lfw_dir), "--out", str(out)])
    assert exit_info.value.code == 2
    assert not out.exists()


# -- augmentation ---------------------------------------------------------------------------


def test_to_tensor_is_channels_first_float_in_pixel_units(real_crops: np.ndarray) -> None:
    tensor = to_tensor(real_crops)
    assert tensor.shape == (8, 3, 112, 112) and tensor.dtype == torch.float32
    assert tensor.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(tensor, torch.from_numpy(real_crops).permute(0, 3, 1, 2).float())


def test_augment_keeps_shape_dtype_range_and_layout(real_crops: np.ndarray) -> None:
    out = augment(to_tensor(real_crops), torch.Generator().manual_seed(0))
    assert out.shape == (8, 3, 112, 112) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0


def test_augment_is_deterministic_under_a_fixed_generator(real_crops: np.ndarray) -> None:
    a = augment(to_tensor(real_crops), torch.Generator().manual_seed(5))
    b = augment(to_tensor(real_crops), torch.Generator().manual_seed(5))
    c = augment(to_tensor(real_crops), torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_changes_every_image_but_keeps_it_a_face(real_crops: np.ndarray) -> None:
    original = to_tensor(real_crops)
    out = augment(original.clone(), torch.Generator().manual_seed(0))
    change = (out - original).abs().mean(dim=(1, 2, 3))
    assert bool((change > 1.0).all())  # every image altered by more than a rounding
    # ... yet still correlated with its source (modulo flip): no wholesale scrambling.
    for i in range(len(out)):
        src = original[i].flatten()
        candidates = [out[i].flatten(), out[i].flip(2).flatten()]
        best = max(float(torch.corrcoef(torch.stack([src, c]))[0, 1]) for c in candidates)
        assert best > 0.5


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_augment_leaves_its_input_untouched(real_crops: np.ndarray, layout: torch.memory_format) -> None:
    images = torch.from_numpy(real_crops).permute(0, 3, 1, 2).float().contiguous(memory_format=layout)
    before = images.clone()
    augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(images, before)


# -- held-out split and teacher --------------------------------------------------------------


def tiny_faceset(tiny_prepared: dict) -> FaceSet:
    return load_faceset(tiny_prepared["arrays"])


def test_split_holdout_holds_out_whole_celeba_identities(tiny_prepared: dict) -> None:
    faces = tiny_faceset(tiny_prepared)
    train, held = split_holdout(faces, holdout_identities=2, seed=0)
    assert len(train) + len(held) == len(faces)
    assert len(np.unique(held.labels)) == 2
    assert not set(train.labels.tolist()) & set(held.labels.tolist())  # no person on both sides
    assert all(str(p).startswith("celeba-aligned/") for p in held.paths)
    assert np.bincount(held.labels)[np.unique(held.labels)].tolist() == [5, 5]  # all their images
    assert set(map(str, train.paths)) | set(map(str, held.paths)) == set(map(str, faces.paths))


def test_split_holdout_is_seeded_and_capped_by_the_candidates(tiny_prepared: dict) -> None:
    faces = tiny_faceset(tiny_prepared)
    first = split_holdout(faces, 2, seed=0)[1].labels
    assert np.array_equal(first, split_holdout(faces, 2, seed=0)[1].labels)
    picks = {tuple(np.unique(split_holdout(faces, 2, seed=s)[1].labels)) for s in range(8)}
    assert len(picks) > 1  # the seed matters
    _, everyone = split_holdout(faces, 50, seed=0)  # only 4 CelebA people exist
    assert len(np.unique(everyone.labels)) == 4
    _, by_prefix = split_holdout(faces, 5, prefix="pins/", seed=0)
    assert {str(p).split("/")[0] for p in by_prefix.paths} == {"pins"}


def test_attach_teacher_joins_encodings_by_path(tiny_prepared: dict, teacher_npz: Path) -> None:
    faces = tiny_faceset(tiny_prepared)
    # One image the teacher never saw: dropped and counted.
    faces.paths = np.concatenate([faces.paths[:-1], np.array(["pins/Nobody/0.webp"])])
    joined, missing = attach_teacher(faces, teacher_npz)
    assert missing == 1 and len(joined) == len(faces) - 1
    assert joined.teacher is not None and joined.teacher.shape == (len(joined), 128) and joined.teacher.dtype == np.float32
    with np.load(teacher_npz) as data:
        row = {str(p): i for i, p in enumerate(data["paths"])}
        encodings = data["encodings"]
        for path, teacher, label in zip(joined.paths, joined.teacher, joined.labels):
            np.testing.assert_array_equal(teacher, encodings[row[str(path)]].astype(np.float32))
    # The joined rows keep their own crops and labels in step.
    keep = [faces.paths.tolist().index(p) for p in joined.paths.tolist()]
    assert np.array_equal(joined.labels, faces.labels[keep])
    assert np.array_equal(joined.crops, faces.crops[keep])


def test_center_teacher_subtracts_the_training_mean_and_keeps_distances(tiny_prepared: dict, teacher_npz: Path) -> None:
    faces, _ = attach_teacher(tiny_faceset(tiny_prepared), teacher_npz)
    train, held = split_holdout(faces, holdout_identities=2, seed=0)
    raw_train, raw_held = train.teacher.copy(), held.teacher.copy()
    mean = center_teacher(train, held)
    np.testing.assert_allclose(mean, raw_train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(train.teacher.mean(0), 0.0, atol=1e-6)  # centred on the training set
    np.testing.assert_allclose(held.teacher, raw_held - mean, rtol=1e-6)  # held out: the same shift
    # A shift, not a rescale: dlib's Euclidean distances (the distance term's target) survive.
    raw = np.linalg.norm(raw_train[0] - raw_train[1:], axis=1)
    np.testing.assert_allclose(np.linalg.norm(train.teacher[0] - train.teacher[1:], axis=1), raw, rtol=1e-5)
