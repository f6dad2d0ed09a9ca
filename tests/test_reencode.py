"""Specification of faceapp.reencode: templates of an earlier model brought up to the current
one from the face crops they kept (or, failing that, their enrollment photos), page by page,
with damaged crops and missing photos left alone.

The store is a real SQLite file, the crops are aligned LFW faces and the encoder is the shipped
one; the "earlier model" is only a model id, since what is checked is where the encodings go.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.embed import Encoder, load_encoder
from faceapp.errors import ImageError
from faceapp.images import encode_jpeg, encode_lossless
from faceapp.reencode import StaleCounts, decode_crop, photo_cropper, reencode_store, stale_counts
from faceapp.storage import SqliteStore as Store

EARLIER = "faceapp-encoder-earlier"


@pytest.fixture(scope="module")
def encoder(shipped_model_card: Path) -> Encoder:
    return load_encoder(shipped_model_card, device="cpu")


def unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_kept_crops_are_re_encoded_page_by_page_exactly_as_the_current_model_encodes_them(
    tmp_path: Path, encoder: Encoder, face_crops: np.ndarray
) -> None:
    with Store.open(tmp_path / "faceapp.db") as store:
        gul = store.enroll("Abdullah Gul", unit(2, 0), EARLIER, crops=[encode_lossless(c) for c in face_crops[:2]])
        store.enroll("Aaron Guiel", unit(1, 1), EARLIER, crops=[encode_lossless(face_crops[2])])
        store.enroll("Old Timer", unit(1, 2), EARLIER)  # enrolled before crops were kept
        pages: list[int] = []
        report = reencode_store(store, encoder, progress=pages.append, page_size=2)
        gallery = store.gallery(encoder.model_id)
        assert store.stale_templates(encoder.model_id) == {EARLIER: 1}
    assert (report.reencoded, report.people, report.from_models) == (3, 2, (EARLIER,))
    assert (report.unreadable, report.without_crop) == (0, 1)
    assert pages == [2, 3]  # one call per page, with the running total
    np.testing.assert_allclose(gallery.encodings, encoder.embed(face_crops), atol=1e-6)
    assert gallery.person_ids.tolist()[:2] == [gul, gul]


def test_an_unreadable_or_wrongly_sized_crop_is_counted_and_its_template_left_as_it_was(
    tmp_path: Path, encoder: Encoder, face_crops: np.ndarray
) -> None:
    with Store.open(tmp_path / "faceapp.db") as store:
        store.enroll("Broken", unit(2, 0), EARLIER, crops=[b"not an image", encode_lossless(face_crops[0][:50, :50])])
        store.enroll("Fine", unit(1, 1), EARLIER, crops=[encode_jpeg(face_crops[1], 95)])  # any image format decodes
        report = reencode_store(store, encoder)
        np.testing.assert_array_equal(store.templates_of("Broken", EARLIER), unit(2, 0))
        assert len(store.templates_of("Fine", encoder.model_id)) == 1
    assert (report.reencoded, report.unreadable, report.without_crop) == (1, 2, 0)


@pytest.fixture(scope="module")
def pipeline(encoder: Encoder, yunet_detector):
    from faceapp.pipeline import Pipeline

    return Pipeline(yunet_detector, encoder)


def test_templates_without_a_crop_are_aligned_again_from_their_enrollment_photo_where_it_still_is(
    tmp_path: Path, repo_faces, pipeline, encoder: Encoder, face_crops: np.ndarray
) -> None:
    photo = repo_faces.stranger  # face_crops[2] is aligned from it
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with Store.open(tmp_path / "faceapp.db") as store:
        store.enroll("Aaron Guiel", unit(1, 0), EARLIER, sources=[str(photo)])  # before crops were kept
        store.enroll("Gone", unit(3, 1), EARLIER, sources=[str(tmp_path / "deleted.jpg"), "camera 0 frame 12", str(blank)])
        store.enroll("Kept", unit(1, 2), EARLIER, crops=[encode_lossless(face_crops[0])])
        assert stale_counts(store, encoder.model_id) == StaleCounts(kept_crop=1, photo=2, lost=2)  # the blank is a photo
        report = reencode_store(store, encoder, photo_crop=photo_cropper(pipeline))
        again = store.templates_of("Aaron Guiel", encoder.model_id)
        (kept_crop,) = [c for c in store.stale_crops("a-later-model") if c.person_id == store.person("Aaron Guiel").id]
        assert stale_counts(store, encoder.model_id) == StaleCounts(kept_crop=0, photo=1, lost=2)  # the faceless photo stays
    assert (report.reencoded, report.from_photos, report.people, report.without_crop) == (2, 1, 2, 3)
    np.testing.assert_allclose(again, encoder.embed(face_crops[2:3]), atol=1e-6)  # as if enrolled again from the photo
    np.testing.assert_array_equal(decode_crop(kept_crop.crop, 112), face_crops[2])  # and its crop is now kept


def test_without_a_photo_cropper_only_kept_crops_are_used(tmp_path: Path, repo_faces, encoder: Encoder) -> None:
    photo = repo_faces.stranger
    with Store.open(tmp_path / "faceapp.db") as store:
        store.enroll("Aaron Guiel", unit(1, 0), EARLIER, sources=[str(photo)])
        report = reencode_store(store, encoder)
    assert (report.reencoded, report.without_crop) == (0, 1)


def test_a_photo_aligned_again_keeps_no_crop_when_crops_are_not_kept(
    tmp_path: Path, repo_faces, pipeline, encoder: Encoder
) -> None:
    photo = repo_faces.stranger
    with Store.open(tmp_path / "faceapp.db") as store:
        store.enroll("Aaron Guiel", unit(1, 0), EARLIER, sources=[str(photo)])
        report = reencode_store(store, encoder, photo_crop=photo_cropper(pipeline), keep_crops=False)
        assert store.stale_crops("a-later-model") == [] and store.stale_without_crop("a-later-model") == 1
    assert report.from_photos == 1


def test_decode_crop_names_what_is_wrong() -> None:
    with pytest.raises(ImageError, match="not a readable image"):
        decode_crop(b"\x89PNG garbage", 112)
    with pytest.raises(ImageError, match="50x40, not the model's 112x112"):
        decode_crop(encode_lossless(np.zeros((40, 50, 3), np.uint8)), 112)
    crop = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_crop(encode_lossless(crop), 112), crop)  # lossless, as stored


def test_a_store_with_nothing_stale_has_nothing_to_do(tmp_path: Path, encoder: Encoder, face_crops: np.ndarray) -> None:
    with Store.open(tmp_path / "faceapp.db") as store:
        store.enroll("Current", encoder.embed(face_crops[:1]), encoder.model_id, crops=[encode_lossless(face_crops[0])])
        report = reencode_store(store, encoder)
    assert (report.reencoded, report.people, report.from_models, report.without_crop) == (0, 0, (), 0)
