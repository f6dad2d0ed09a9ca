"""Specification of the encoder-v3 training additions: webcam degradations of the student's
input (training.degrade), faces without identities that teach through the teacher only
(prepare --unlabelled, train_step's ``unlabelled``), and a resumable run with both."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from faceapp.images import list_images
from training.data import BatchSource, FaceSet, UnlabelledSampler
from training.degrade import DegradeConfig, WebcamDegrader, gaussian_blur, jpeg, occlude
from training.engine import train_step
from training.losses import TripletLoss, teacher_cosine_loss
from training.prepare import UNLABELLED, prepare_unlabelled, save_dataset
from training.train import TrainConfig, load_unlabelled, train

from test_train_smoke import TINY_TOWER, read_log, tiny_config


@pytest.fixture(scope="module")
def faces_batch() -> torch.Tensor:
    """Eight real 112x112 faces from tests/data/faces as a (8, 3, 112, 112) float batch."""
    folder = Path(__file__).resolve().parents[1] / "data" / "faces" / "person-e"
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in list_images(folder)[:8]]
    crops = np.stack([cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA) for image in images])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(255**2 / float(((a - b) ** 2).mean()))


# -- degradations --------------------------------------------------------------------------------


def test_jpeg_matches_a_real_jpeg_codec(faces_batch: torch.Tensor) -> None:
    # OpenCV's libjpeg at the same quality, with its 4:2:0 chroma: the torch round trip lands
    # within rounding of it, far closer than either is to the original.
    for quality in (30, 75):
        ours = jpeg(faces_batch, torch.full((len(faces_batch),), float(quality))).round()
        theirs = []
        for image in faces_batch:
            bgr = cv2.cvtColor(image.permute(1, 2, 0).byte().numpy(), cv2.COLOR_RGB2BGR)
            _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            theirs.append(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        theirs = torch.from_numpy(np.stack(theirs)).permute(0, 3, 1, 2).float()
        assert psnr(ours, theirs) > 40
        assert psnr(ours, faces_batch) < 45 and abs(psnr(ours, faces_batch) - psnr(theirs, faces_batch)) < 1


def test_lower_jpeg_quality_loses_more(faces_batch: torch.Tensor) -> None:
    n = len(faces_batch)
    errors = [psnr(jpeg(faces_batch, torch.full((n,), q)), faces_batch) for q in (20.0, 50.0, 90.0)]
    assert errors[0] < errors[1] < errors[2]


def test_blur_with_a_larger_sigma_removes_more_detail(faces_batch: torch.Tensor) -> None:
    def detail(images: torch.Tensor) -> float:  # mean absolute difference between neighbouring pixels
        return float((images[..., 1:] - images[..., :-1]).abs().mean())

    sigma = torch.tensor([0.5, 1.5]).repeat_interleave(4)
    blurred = gaussian_blur(faces_batch, sigma)
    assert blurred.shape == faces_batch.shape
    assert detail(blurred[4:]) < detail(blurred[:4]) < detail(faces_batch[:4])
    flat = torch.full((2, 3, 20, 20), 100.0)
    torch.testing.assert_close(gaussian_blur(flat, torch.tensor([1.0, 2.0])), flat)  # weights sum to one


def test_occlusion_covers_the_asked_share_with_one_flat_colour(faces_batch: torch.Tensor) -> None:
    area = torch.full((len(faces_batch),), 0.16)
    covered = occlude(faces_batch, area, torch.Generator().manual_seed(3))
    for before, after in zip(faces_batch, covered):
        changed = (before != after).any(0)
        share = float(changed.float().mean())
        assert 0.10 < share <= 0.17  # 0.16 of the crop, less the pixels that happened to match
        assert len(torch.unique(after[:, changed], dim=1).T) == 1


def test_the_degrader_is_seeded_and_leaves_the_undrawn_share_alone(faces_batch: torch.Tensor) -> None:
    batch = faces_batch.repeat(4, 1, 1, 1)
    degrader = WebcamDegrader(DegradeConfig(fraction=0.5))
    first = degrader(batch, torch.Generator().manual_seed(0))
    again = degrader(batch, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, again)
    assert first.shape == batch.shape and first.dtype == torch.float32
    assert first.min() >= 0 and first.max() <= 255
    changed = (first != batch).flatten(1).any(1)
    assert 0 < int(changed.sum()) < len(batch)  # about half, never all or none with 32 faces
    assert batch.data_ptr() != first.data_ptr()
    off = WebcamDegrader(DegradeConfig(fraction=0.0))
    assert off(batch, torch.Generator()) is batch


def test_low_resolution_alone_loses_detail_as_the_face_shrinks(faces_batch: torch.Tensor) -> None:
    only_low_res = dict(fraction=1.0, low_res_p=1.0, blur_p=0, noise_p=0, jpeg_p=0, light_p=0, occlusion_p=0)
    small = WebcamDegrader(DegradeConfig(face_px=(24.0, 24.0), **only_low_res))(faces_batch, torch.Generator().manual_seed(1))
    large = WebcamDegrader(DegradeConfig(face_px=(64.0, 64.0), **only_low_res))(faces_batch, torch.Generator().manual_seed(1))
    assert psnr(small, faces_batch) < psnr(large, faces_batch)
    # A face 24 px wide is what a 112-px crop shrunk to about 35 px keeps: the same as doing that by hand.
    side = round(112 * 24 / 77)
    by_hand = F.interpolate(F.interpolate(faces_batch, size=(side, side), mode="bilinear", antialias=True),
                            size=(112, 112), mode="bilinear", antialias=True)
    torch.testing.assert_close(small, by_hand.clamp(0, 255), atol=1e-3, rtol=0)


# -- unlabelled faces: the teacher terms only ----------------------------------------------------


class FlatEncoder(nn.Module):
    """A linear encoder without BatchNorm, so each image's encoding does not depend on its batch."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 16)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(images.flatten(1)), dim=1)


def test_unlabelled_faces_count_in_the_teacher_term_and_never_in_the_triplet_term() -> None:
    torch.manual_seed(0)
    model = FlatEncoder()
    images, unlabelled = torch.rand(8, 3, 8, 8) * 255, torch.rand(4, 3, 8, 8) * 255
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    teacher = torch.randn(8, 16)
    with torch.no_grad():
        labelled_only_teacher = float(teacher_cosine_loss(model(images), teacher))
        own = model(unlabelled)  # targets the unlabelled faces already meet: their term is 0
        expected_triplet = float(TripletLoss(0.2)(model(images), labels))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = TripletLoss(0.2)
    result = train_step(model, images, labels, teacher, loss, 1.0, optimizer, torch.device("cpu"), amp=False,
                        unlabelled=(unlabelled, own))
    assert result.triplet == pytest.approx(expected_triplet, rel=1e-5)
    assert loss.last.triplets == 8  # one batch-hard triplet per labelled anchor, none for the others
    # The mean over 12 faces, 4 of them at 0: 8/12 of the labelled faces' own mean.
    assert result.teacher == pytest.approx(labelled_only_teacher * 8 / 12, rel=1e-5)


@pytest.fixture(scope="module")
def tiny_unlabelled(shared_dir: Path, yunet_detector, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Twelve UTKFace faces copied into the layout of ../shared/datasets and prepared unlabelled."""
    source = shared_dir / "datasets" / "utkface-unlabelled"
    teacher = shared_dir / "datasets" / "teacher-dlib-utkface.npz"
    if not source.is_dir() or not teacher.is_file():
        pytest.skip(f"the unlabelled faces or their teacher encodings are not here ({source}, {teacher})")
    root = tmp_path_factory.mktemp("unlabelled")
    (root / source.name).mkdir()
    for image in list_images(source)[:12]:
        shutil.copy(image, root / source.name / image.name)
    arrays, report = prepare_unlabelled(root / source.name, root, yunet_detector, progress=False)
    npz = root / "unlabelled.npz"
    save_dataset(npz, arrays)
    return {"npz": npz, "arrays": arrays, "report": report, "teacher": teacher}


def test_prepare_unlabelled_labels_nobody_and_keeps_teacher_paths(tiny_unlabelled: dict) -> None:
    arrays, report = tiny_unlabelled["arrays"], tiny_unlabelled["report"]
    assert report.images == 12 and report.detected + report.fallback == 12 and not report.skipped
    assert arrays["crops"].shape == (12, 112, 112, 3)
    assert (arrays["labels"] == UNLABELLED).all() and len(arrays["identities"]) == 0
    with np.load(tiny_unlabelled["teacher"]) as teacher:
        assert set(arrays["paths"].tolist()) <= set(teacher["paths"].tolist())


def test_load_unlabelled_refuses_a_labelled_set_and_a_missing_teacher(tiny_unlabelled: dict, tiny_prepared: dict,
                                                                      tmp_path: Path) -> None:
    config = TrainConfig(data="", out="", unlabelled=str(tiny_prepared["npz"]), unlabelled_teacher=str(tiny_unlabelled["teacher"]))
    with pytest.raises(ValueError, match="holds identity labels"):
        load_unlabelled(config)
    with pytest.raises(ValueError, match="needs --unlabelled-teacher"):
        load_unlabelled(TrainConfig(data="", out="", unlabelled=str(tiny_unlabelled["npz"])))
    faces, info = load_unlabelled(TrainConfig(data="", out="", unlabelled=str(tiny_unlabelled["npz"]),
                                              unlabelled_teacher=str(tiny_unlabelled["teacher"])))
    assert info == {"unlabelled_images": 12, "unlabelled_without_teacher": 0}
    assert faces.teacher.shape == (12, 128) and np.abs(faces.teacher).sum(1).min() > 0


def test_the_unlabelled_sampler_is_seeded_and_resumable() -> None:
    sampler = UnlabelledSampler(50, 8, seed=3)
    first = sampler.batch()
    assert len(set(first.tolist())) == 8 and first.max() < 50
    state = sampler.state()
    expected = sampler.batch()
    sampler.batch()
    sampler.restore(state)
    np.testing.assert_array_equal(sampler.batch(), expected)
    assert len(UnlabelledSampler(5, 8).batch()) == 5


def test_a_batch_source_degrades_the_images_but_not_the_teacher_rows(faces_batch: torch.Tensor) -> None:
    crops = faces_batch.permute(0, 2, 3, 1).byte().numpy()
    faces = FaceSet(crops, np.arange(8), np.array([f"f{i}" for i in range(8)]), np.eye(8, 128, dtype=np.float32))
    plain = BatchSource(faces, torch.device("cpu"), resident=False)
    degraded = BatchSource(faces, torch.device("cpu"), resident=False, degrade=WebcamDegrader(DegradeConfig(fraction=1.0)))
    index = np.arange(8)
    clean_images, _, clean_teacher = plain(index, torch.Generator().manual_seed(5))
    webcam_images, _, webcam_teacher = degraded(index, torch.Generator().manual_seed(5))
    torch.testing.assert_close(webcam_teacher, clean_teacher)
    assert (webcam_images != clean_images).flatten(1).any(1).all()


def test_a_run_with_unlabelled_faces_and_degradations_records_them_and_resumes(
    tiny_prepared: dict, teacher_npz: Path, tiny_unlabelled: dict, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    extra = dict(unlabelled=str(tiny_unlabelled["npz"]), unlabelled_teacher=str(tiny_unlabelled["teacher"]),
                 unlabelled_batch=6, degrade=0.5, teacher_distance_weight=5.0)
    train(tiny_config(tiny_prepared, teacher_npz, run, **extra))
    (entry,) = read_log(run)
    assert math.isfinite(entry["loss"]) and entry["teacher"] > 0 and entry["teacher_distance"] > 0
    config = json.loads((run / "config.json").read_text())
    assert config["data_info"]["unlabelled_images"] == 12 and config["degrade"] == 0.5
    assert config["precision_ran"].startswith(("bf16", "float32"))
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    state = checkpoint["unlabelled_sampler"]
    capsys.readouterr()

    train(tiny_config(tiny_prepared, teacher_npz, run, epochs=2, **extra))
    assert "resumed from" in capsys.readouterr().out
    assert [e["epoch"] for e in read_log(run)] == [1, 2]
    sampler = UnlabelledSampler(12, 6)
    sampler.restore(state)  # the resumed run continued the saved stream: two more steps' draws
    sampler.batch(), sampler.batch()
    assert torch.load(run / "checkpoint.pt", weights_only=False)["unlabelled_sampler"] == sampler.state()


def test_a_run_refuses_unlabelled_faces_without_a_teacher(tiny_prepared: dict, tiny_unlabelled: dict, tmp_path: Path) -> None:
    config = TrainConfig(data=str(tiny_prepared["npz"]), out=str(tmp_path / "run"), holdout_identities=2, epochs=1,
                         steps_per_epoch=1, p=4, k=2, device="cpu", unlabelled=str(tiny_unlabelled["npz"]),
                         unlabelled_teacher=str(tiny_unlabelled["teacher"]), **TINY_TOWER)
    with pytest.raises(ValueError, match="needs --teacher"):
        train(config)


def test_unlabelled_faces_travel_packed_in_parts_read_by_a_glob(tiny_unlabelled: dict, tmp_path: Path) -> None:
    from training.pack import pack

    parts = pack(tiny_unlabelled["arrays"], tmp_path / "pack", max_part_mib=0.02, teacher_file=tiny_unlabelled["teacher"])
    assert len(parts) >= 2
    faces, info = load_unlabelled(TrainConfig(data="", out="", unlabelled=str(tmp_path / "pack" / "part-*.npz"),
                                              unlabelled_teacher="packed"))
    assert info == {"unlabelled_images": 12, "unlabelled_without_teacher": 0}
    assert sorted(faces.paths.tolist()) == sorted(tiny_unlabelled["arrays"]["paths"].tolist())
    assert (faces.labels == UNLABELLED).all()
