"""Authenticated encryption of single blobs (encodings, crops, thumbnails), for a backend that
cannot encrypt its whole file the way SQLCipher does: a PostgreSQL server, whose disks and
backups this station does not control, gets only sealed bytes.

AES-256-GCM (the ``cryptography`` package): every blob has its own random 96-bit nonce, and
the GCM tag authenticates the blob *and* what it belongs to (``context``, e.g. the template's
id and column), so a blob that was altered, or copied onto another row, fails to open instead
of decoding as someone else's face. A sealed blob is: 1 version byte, 12 nonce bytes, the
ciphertext and the 16-byte tag.
"""

from __future__ import annotations

import hashlib
import os
import re

from ..errors import StoreError

VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
SALT_BYTES = 16
_RAW_KEY = re.compile(r"^x'([0-9a-fA-F]{64})'$")
# scrypt's cost for a passphrase: about 16 MiB of memory, so guessing is slow on any hardware.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class BlobAuthenticationError(StoreError):
    """A sealed blob that does not open: damaged, altered, moved to another row, or a wrong key."""


def derive_key(key_text: str, salt: bytes) -> bytes:
    """The 256-bit key for ``key_text``: a raw ``x'<64 hex digits>'`` key as it is (what the
    keyring keeps), or a passphrase stretched with scrypt over ``salt`` (kept beside the data,
    one per database, so the same passphrase gives other keys elsewhere)."""
    if not isinstance(key_text, str) or not key_text:
        raise StoreError("the database key must be non-empty text")
    raw = _RAW_KEY.match(key_text)
    if raw:
        return bytes.fromhex(raw.group(1))
    if len(salt) < SALT_BYTES:
        raise StoreError(f"a passphrase needs a salt of at least {SALT_BYTES} bytes")
    return hashlib.scrypt(key_text.encode("utf-8"), salt=salt, dklen=KEY_BYTES, **_SCRYPT)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


class BlobCipher:
    """Seals and opens blobs with one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise StoreError(f"a blob key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_key_text(cls, key_text: str, salt: bytes) -> BlobCipher:
        return cls(derive_key(key_text, salt))

    def seal(self, data: bytes, context: str) -> bytes:
        """``data`` encrypted and bound to ``context`` (say 'templates.crop:42')."""
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, bytes(data), context.encode("utf-8"))

    def open(self, blob: bytes, context: str, where: object = "the database") -> bytes:
        """The data :meth:`seal` sealed with this key and ``context``, or
        BlobAuthenticationError naming ``where`` (the database, for the user)."""
        from cryptography.exceptions import InvalidTag

        blob = bytes(blob)
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != VERSION:
            raise BlobAuthenticationError(f"{where}: {context} is not an encrypted faceapp blob (damaged?)")
        try:
            return self._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], context.encode("utf-8"))
        except InvalidTag:
            raise BlobAuthenticationError(
                f"{where}: {context} failed authentication: the key is wrong, or the stored bytes were "
                "damaged or altered. Nothing else was changed; restore a backup or enroll again") from None
