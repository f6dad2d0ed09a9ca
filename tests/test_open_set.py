"""Specification of faceapp.open_set (the gallery/probe/unknown layout and the open-set curve),
of the low-resolution option of faceapp.evaluate, and of tools/make_open_set_layout.py.

The curve's arithmetic is checked on hand-made distances whose answers are worked out below;
the layout and the end-to-end report on the in-repo faces (tests/data/faces) with the shipped
detector and encoder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import PERSON_E, REPO_ROOT, RepoFaces
from faceapp.errors import FaceAppError
from faceapp.evaluate import photo_crop, shrink_and_enlarge
from faceapp.images import load_image
from faceapp.open_set import (
    OperatingPoint,
    evaluate_open_set,
    open_set_report,
    operating_point,
    prepare_open_set_images,
    read_open_set_layout,
    threshold_for_rejection,
)


@pytest.fixture(scope="module")
def shipped_encoder(shipped_model_card: Path):
    from faceapp.embed import load_encoder

    return load_encoder(shipped_model_card, device="cpu", threads=1)


def open_set_folder(root: Path, repo_faces: RepoFaces) -> Path:
    """E enrolled from two photos of one clip and probed with the other clip's; the doorway
    people as strangers, one of them in a subfolder of unknown/ and the others loose in it."""
    for role, name, photos in (("gallery", PERSON_E, repo_faces.hungry[:2]), ("probe", PERSON_E, repo_faces.want),
                               ("unknown", "doorway-1", repo_faces.others["doorway-1"]),
                               ("unknown", "", repo_faces.others["doorway-2"] + repo_faces.others["doorway-3"])):
        folder = root / role / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            shutil.copy(photo, folder / photo.name)
    return root


# -- the layout --------------------------------------------------------------------------------------


def test_the_layout_is_read_by_role_and_person(repo_faces: RepoFaces, tmp_path: Path) -> None:
    layout = read_open_set_layout(open_set_folder(tmp_path, repo_faces))
    assert list(layout.gallery) == [PERSON_E] and len(layout.gallery[PERSON_E]) == 2
    assert [p.name for p in layout.probes[PERSON_E]] == sorted(p.name for p in repo_faces.want)
    assert len(layout.unknown) == 9  # three from unknown/doorway-1/, six loose
    assert sum(p.parent.name == "doorway-1" for p in layout.unknown) == 3
    assert layout.images == 2 + len(repo_faces.want) + 9


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda root: shutil.rmtree(root / "unknown"), "no unknown/ folder"),
        (lambda root: [p.unlink() for p in (root / "unknown").rglob("*.jpg")], "holds no images; the curve needs"),
        (lambda root: shutil.copytree(root / "probe" / PERSON_E, root / "probe" / "nobody"), "'nobody' has no gallery/ folder"),
        (lambda root: (root / "gallery" / "empty").mkdir(), "holds no images to enroll 'empty' from"),
        (lambda root: [p.unlink() for p in (root / "probe").rglob("*.jpg")], "holds no images of enrolled people"),
        (lambda root: shutil.rmtree(root / "gallery" / PERSON_E), "holds no person folders"),
    ],
)
def test_a_misshapen_layout_is_a_clear_error(repo_faces: RepoFaces, tmp_path: Path, change, message: str) -> None:
    root = open_set_folder(tmp_path / "set", repo_faces)
    change(root)
    with pytest.raises(FaceAppError, match=message):
        read_open_set_layout(root)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FaceAppError, match="no such folder"):
        read_open_set_layout(tmp_path / "absent")


# -- the curve's arithmetic, by hand -----------------------------------------------------------------

# Four probes (nearest distance, nearest template the right person's?) and ten unknown faces.
PROBES = np.array([0.2, 0.5, 0.8, 1.1])
CORRECT = np.array([True, True, False, True])
UNKNOWN = np.array([0.3, 0.6, 0.9, 1.2, 1.5, 1.7, 1.8, 1.9, 2.0, 2.0])


def test_rejecting_90_percent_of_ten_unknowns_names_one_of_them() -> None:
    # 90% of 10 rejected: 1 may be named, so the threshold sits just below the second nearest (0.6).
    threshold = threshold_for_rejection(UNKNOWN, 0.90)
    assert 0.5 < threshold < 0.6 and threshold == pytest.approx(0.6, abs=1e-5)
    # Named within it: the probes at 0.2 and 0.5, both the right person: rank-1 2/4, no wrong name.
    assert operating_point(PROBES, CORRECT, UNKNOWN, threshold) == OperatingPoint(threshold, 0.9, 0.5, 0.0)


def test_rejecting_95_and_99_percent_of_ten_unknowns_names_none() -> None:
    # floor(0.05 * 10) = 0 may be named: just below the nearest unknown (0.3); only the 0.2 probe is named.
    for level in (0.95, 0.99):
        threshold = threshold_for_rejection(UNKNOWN, level)
        assert threshold == pytest.approx(0.3, abs=1e-5) and threshold < 0.3
        assert operating_point(PROBES, CORRECT, UNKNOWN, threshold) == OperatingPoint(threshold, 1.0, 0.25, 0.0)


def test_the_report_at_a_given_threshold_counts_wrong_names() -> None:
    report = open_set_report(PROBES, CORRECT, UNKNOWN, threshold=1.0, people=3, gallery_images=6)
    # At 1.0: unknowns above it 7 of 10; probes 0.2 and 0.5 named rightly, 0.8 wrongly, 1.1 not named.
    assert report.at_threshold == OperatingPoint(1.0, 0.7, 0.5, 0.25)
    assert report.closed_set_rank1 == 0.75  # 3 of 4 nearest templates are the right person's
    assert [p.rejected for p in report.curve] == [0.9, 1.0, 1.0]
    assert [p.rank1 for p in report.curve] == [0.5, 0.25, 0.25]
    assert (report.probes, report.unknowns, report.people, report.gallery_images) == (4, 10, 3, 6)
    assert report.to_dict()["curve"][0]["rank1"] == 0.5


def test_a_rejection_share_that_lands_on_a_count_is_met_exactly() -> None:
    # (1 - 0.9) * 10 is 0.9999999999999998 in floating point: still 1 unknown may be named.
    unknown = np.arange(1, 11) / 10
    threshold = threshold_for_rejection(unknown, 0.9)
    assert np.mean(unknown > threshold) == 0.9 and threshold == pytest.approx(0.2, abs=1e-5)
    unknown = np.arange(1, 101) / 100
    assert np.mean(unknown > threshold_for_rejection(unknown, 0.71)) == 0.71
    assert threshold_for_rejection(unknown, 0.0) == 1.0  # reject none: the farthest unknown is named too


# -- end to end on the in-repo faces ------------------------------------------------------------------


def test_the_open_set_report_on_real_faces(repo_faces: RepoFaces, tmp_path: Path, yunet_detector, shipped_encoder) -> None:
    layout = read_open_set_layout(open_set_folder(tmp_path, repo_faces))
    crops, failures = prepare_open_set_images(layout, yunet_detector)
    assert set(crops) == {*layout.gallery[PERSON_E], *layout.probes[PERSON_E], *layout.unknown}
    assert all(crop.shape == (112, 112, 3) for crop in crops.values())
    threshold = shipped_encoder.card.default_threshold
    report = evaluate_open_set(layout, crops, shipped_encoder.embed, shipped_encoder.model_id, threshold, len(failures))
    # E's photos match each other within the default threshold and no doorway photo matches E's
    # (conftest.RepoFaces), so at that threshold every probe is named and every stranger rejected;
    # and every threshold that rejects all strangers still names every probe.
    assert report.at_threshold.rank1 == 1.0 and report.at_threshold.rejected == 1.0 and report.at_threshold.wrong_name == 0
    assert [p.rank1 for p in report.curve] == [1.0, 1.0, 1.0]
    assert (report.people, report.gallery_images, report.probes, report.unknowns) == (1, 2, len(repo_faces.want), 9)


def test_degrading_a_photo_shrinks_its_face_and_keeps_it_findable(repo_faces: RepoFaces, yunet_detector) -> None:
    image = load_image(repo_faces.hungry[0])
    sharp, found = photo_crop(image, yunet_detector)
    assert found
    small, found_small = photo_crop(image, yunet_detector, degrade_to=24)
    assert found_small

    def detail(crop: np.ndarray) -> float:
        return float(np.abs(np.diff(crop.astype(float), axis=1)).mean())

    assert detail(small) < 0.8 * detail(sharp)
    # A face already smaller than the asked width is left as it is.
    unchanged, _ = photo_crop(image, yunet_detector, degrade_to=1000)
    np.testing.assert_array_equal(unchanged, sharp)
    np.testing.assert_array_equal(shrink_and_enlarge(image, 1.0), image)
    assert shrink_and_enlarge(image, 0.25).shape == image.shape


# -- tools/make_open_set_layout.py -------------------------------------------------------------------


def test_the_layout_tool_enrolls_some_people_and_makes_strangers_of_the_rest(repo_faces: RepoFaces, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import make_open_set_layout
    finally:
        sys.path.remove(str(REPO_ROOT / "tools"))
    dataset = tmp_path / "dataset"
    for name, photos in repo_faces.people.items():
        (dataset / name).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, dataset / name / photo.name)
    out = tmp_path / "layout"
    assert make_open_set_layout.main([str(dataset), "--enrolled", "2", "--gallery-photos", "2", "--seed", "1", "--out", str(out)]) == 0
    layout = read_open_set_layout(out)
    assert len(layout.gallery) == 2 and all(len(p) == 2 for p in layout.gallery.values())
    assert set(layout.probes) == set(layout.gallery)
    enrolled_photos = sum(len(repo_faces.people[name]) for name in layout.gallery)
    assert sum(map(len, layout.probes.values())) == enrolled_photos - 4
    assert len(layout.unknown) == sum(map(len, repo_faces.people.values())) - enrolled_photos
    strangers = {p.parent.name for p in layout.unknown}
    assert strangers.isdisjoint(layout.gallery) and len(strangers) == 2
    again = make_open_set_layout.plan_layout({n: list(p) for n, p in repo_faces.people.items()}, 2, 2, seed=1)
    assert sorted(again["gallery"]) == sorted(layout.gallery)  # seeded: the same people again
    with pytest.raises(SystemExit):
        make_open_set_layout.main([str(dataset), "--out", str(REPO_ROOT / "open-set-here")])
    assert not (REPO_ROOT / "open-set-here").exists()


def test_the_face_width_in_an_aligned_crop_is_what_yunet_measures(repo_faces: RepoFaces, yunet_detector) -> None:
    # --degrade-to and training's degradations size faces by YuNet's box: on the app's aligned
    # crops that box must be FACE_WIDTH_IN_CROP wide, or "40 px" would mean something else.
    from faceapp.detect import detect_in_crop, pick_central
    from faceapp.evaluate import FACE_WIDTH_IN_CROP

    widths = []
    for path in repo_faces.e:
        crop, _ = photo_crop(load_image(path), yunet_detector)
        face = pick_central(detect_in_crop(yunet_detector, crop), crop.shape)
        widths.append(face.box[2])
    assert abs(np.median(widths) / FACE_WIDTH_IN_CROP - 1) < 0.05
