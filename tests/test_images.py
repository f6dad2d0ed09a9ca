"""Specification of faceapp.images: every image file becomes RGB uint8, or a clear ImageError.

Each odd file is made for real on disk (cv2 writes most; Pillow, when installed, the CMYK
JPEG OpenCV cannot write; the EXIF orientation segment is spliced in by hand).
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceapp.errors import FaceAppError, ImageError
from faceapp.images import MAX_SIDE, decode_image, jpeg_size, list_images, load_image


def write_bgr(path: Path, bgr: np.ndarray, *params: int) -> Path:
    assert cv2.imwrite(str(path), bgr, list(params)), f"cv2 could not write {path}"
    return path


def exif_orientation_segment(orientation: int) -> bytes:
    """A JPEG APP1 segment holding an EXIF block with one tag: Orientation (0x0112)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)  # big-endian TIFF header, first IFD at offset 8
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff + ifd
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def splice_after_app0(jpeg: bytes, segment: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    at = 2
    if jpeg[2:4] == b"\xff\xe0":  # keep the JFIF APP0 first, as cameras do
        at = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:at] + segment + jpeg[at:]


# -- files that load ---------------------------------------------------------------------


def test_a_real_jpeg_photo_loads_as_rgb_uint8(repo_faces) -> None:
    photo = repo_faces.hungry[0]
    image = load_image(photo)
    assert image.dtype == np.uint8
    assert image.shape == (144, 144, 3)
    assert image.flags["C_CONTIGUOUS"]
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(image, bgr[:, :, ::-1])  # RGB, not OpenCV's BGR


def test_channel_order_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[:, :, 2] = 255  # pure red in OpenCV's BGR order
    image = load_image(write_bgr(tmp_path / "red.png", bgr))
    assert image[0, 0].tolist() == [255, 0, 0]


def test_a_grayscale_png_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (10, 1))  # (10, 32) ramp
    image = load_image(write_bgr(tmp_path / "gray.png", gray))
    assert image.shape == (10, 32, 3) and image.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], gray)


def test_an_rgba_png_drops_alpha_and_keeps_colour(tmp_path: Path) -> None:
    bgra = np.zeros((12, 20, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    bgra[..., 3] = 128  # half transparent
    image = load_image(write_bgr(tmp_path / "rgba.png", bgra))
    assert image.shape == (12, 20, 3)
    assert image[5, 5].tolist() == [0, 0, 255]


def test_a_16_bit_png_is_scaled_to_8_bits(tmp_path: Path) -> None:
    deep = np.zeros((6, 6, 3), np.uint16)
    deep[..., 1] = 0x8000  # half-scale green
    deep[0, 0] = 0xFFFF
    path = write_bgr(tmp_path / "deep.png", deep)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # really a 16-bit file
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (6, 6, 3)
    assert image[3, 3].tolist() == [0, 128, 0]
    assert image[0, 0].tolist() == [255, 255, 255]


def test_a_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image", reason="Pillow writes the CMYK JPEG (OpenCV cannot)")
    path = tmp_path / "cmyk.jpg"
    pil.new("CMYK", (32, 16), (255, 0, 0, 0)).save(path, quality=95)  # pure cyan
    assert path.read_bytes()[:2] == b"\xff\xd8"
    image = load_image(path)
    assert image.shape == (16, 32, 3) and image.dtype == np.uint8
    r, g, b = (int(v) for v in image[8, 16])
    assert r < 40 and g > 215 and b > 215, f"cyan expected, got {(r, g, b)}"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # 40 wide, 20 high: left half black, right half white.
    bgr = np.zeros((20, 40, 3), np.uint8)
    bgr[:, 20:] = 255
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(encoded.tobytes())
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(splice_after_app0(encoded.tobytes(), exif_orientation_segment(6)))

    assert load_image(plain).shape == (20, 40, 3)
    image = load_image(rotated)
    # Orientation 6: the camera was turned; display rotated 90 degrees clockwise.
    assert image.shape == (40, 20, 3)
    assert image[:15].mean() < 30, "the black (left) half should now be on top"
    assert image[25:].mean() > 225, "the white (right) half should now be at the bottom"


def test_a_huge_image_is_downscaled_to_max_side(tmp_path: Path) -> None:
    solid = np.full((5000, 6000, 3), (30, 160, 90), np.uint8)
    path = write_bgr(tmp_path / "huge.png", solid, cv2.IMWRITE_PNG_COMPRESSION, 1)
    del solid
    image = load_image(path)
    assert max(image.shape[:2]) == MAX_SIDE
    assert image.shape[:2] == (round(5000 * MAX_SIDE / 6000), MAX_SIDE)  # aspect kept
    assert image[100, 100].tolist() == [90, 160, 30]


def test_jpeg_size_reads_the_frame_header_without_decoding() -> None:
    bgr = np.zeros((30, 50, 3), np.uint8)
    baseline = cv2.imencode(".jpg", bgr)[1].tobytes()
    progressive = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert jpeg_size(baseline) == jpeg_size(progressive) == (50, 30)
    assert jpeg_size(splice_after_app0(baseline, exif_orientation_segment(6))) == (50, 30)  # as stored, unrotated
    assert jpeg_size(cv2.imencode(".png", bgr)[1].tobytes()) is None
    assert jpeg_size(baseline[:20]) is None and jpeg_size(b"\xff\xd8garbage") is None


def test_a_huge_jpeg_is_read_reduced_with_its_orientation_and_colours(tmp_path: Path) -> None:
    bgr = np.zeros((4096, 8192, 3), np.uint8)
    bgr[:, :4096] = (200, 10, 10)  # left half blue, right half green (BGR)
    bgr[:, 4096:] = (10, 200, 10)
    jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    del bgr
    image = decode_image(jpeg)
    assert image.shape == (2048, 4096, 3)  # read at half size: exactly MAX_SIDE wide
    assert np.abs(image[1000, 1000].astype(int) - [10, 10, 200]).max() < 12  # RGB: blue
    rotated = decode_image(splice_after_app0(jpeg, exif_orientation_segment(6)))
    assert rotated.shape == (4096, 2048, 3)  # turned upright, still at most MAX_SIDE
    assert rotated[1000, 1000, 2] > 150 and rotated[3000, 1000, 1] > 150  # the blue (left) half is now on top


def test_decode_image_reads_bytes_from_memory(repo_faces) -> None:
    photo = repo_faces.hungry[0]
    np.testing.assert_array_equal(decode_image(photo.read_bytes(), "x"), load_image(photo))


# -- files that do not: one clear ImageError naming the file ---------------------------------


def assert_image_error(path: Path, *words: str) -> ImageError:
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert str(path) in message, f"the error should name the file: {message}"
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert isinstance(caught.value, FaceAppError)  # so the CLI reports it as exit 2
    return caught.value


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert_image_error(path, "empty")


def test_a_truncated_jpeg(tmp_path: Path, repo_faces) -> None:
    photo = repo_faces.hungry[0]
    path = tmp_path / "truncated.jpg"
    path.write_bytes(photo.read_bytes()[:200])
    assert_image_error(path, "not a readable image")


def test_a_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n" * 20)
    assert_image_error(path, "not a readable image")


def test_a_missing_file(tmp_path: Path) -> None:
    assert_image_error(tmp_path / "nowhere.jpg", "no such file")


def test_a_folder_passed_as_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    assert_image_error(folder, "folder")


def test_list_images_keeps_images_only_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.png", ".hidden.jpg", "notes.txt", "c.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.JPG", "c.webp"]
