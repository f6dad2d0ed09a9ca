"""Face data of a PostgreSQL gallery sealed on the station (see :mod:`.crypto`): with a key
configured, every template encoding, kept crop and thumbnail is encrypted before it is sent
and opened after it arrives, so the server, its disks and its backups hold only ciphertext.
Names, times and the event log stay plain: queries and the roles' grants need them, and the
server's own disk encryption is what protects them.

Whether a gallery is encrypted is decided once, when a key first meets a gallery that holds
no face data yet: two rows of the ``meta`` table then keep the salt (so one passphrase gives
each database its own key) and a key check, a known text sealed with the key, so a wrong key
is refused at open instead of failing on the first template. A gallery with a key check is
never read without its key, and a gallery holding plain face data is never given one, so the
two kinds of blob are never mixed in one gallery.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from ..errors import StoreError
from .crypto import BlobAuthenticationError, BlobCipher, new_salt
from .sqlite_crypto import DatabaseKeyError

SALT_KEY = "blob_salt"
CHECK_KEY = "blob_key_check"
_CHECK_TEXT = b"faceapp gallery key check"
_CHECK_CONTEXT = "the gallery's key check"
# pg_advisory_xact_lock key: one station sets the key up at a time ("FKEY").
_SETUP_LOCK = 0x464B4559
KEY_HINT = ("give its key in FACEAPP_DB_KEY, or keep it in the system keyring (service 'faceapp', "
            "the URL without its password as the user name)")


def encoding_context(template_id: int) -> str:
    """What a template's encoding is bound to: a blob moved to another row or column fails to open."""
    return f"template {int(template_id)}'s encoding"


def crop_context(template_id: int) -> str:
    return f"template {int(template_id)}'s crop"


def thumbnail_context(person_id: int) -> str:
    return f"person {int(person_id)}'s thumbnail"


def _meta(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT key, value FROM meta WHERE key IN (%s, %s)", (SALT_KEY, CHECK_KEY)).fetchall()
    return {str(k): str(v) for k, v in rows}


def _checked(meta: dict[str, str], key: str, where: str) -> BlobCipher:
    """The cipher for ``key``, or DatabaseKeyError when the key check does not open with it."""
    try:
        cipher = BlobCipher.from_key_text(key, bytes.fromhex(meta[SALT_KEY]))
        cipher.open(bytes.fromhex(meta[CHECK_KEY]), _CHECK_CONTEXT)
    except (BlobAuthenticationError, KeyError, ValueError):
        raise DatabaseKeyError(f"{where}: the key does not open this gallery's face data (a wrong key, or a "
                               f"damaged key check); {KEY_HINT}") from None
    return cipher


def open_cipher(conn: psycopg.Connection, where: str, key: str | None) -> BlobCipher | None:
    """The cipher of the gallery on ``conn`` (None: it is not encrypted and no key was given).

    A key that meets a gallery with no face data yet makes it an encrypted one. StoreError
    (DatabaseKeyError for the key itself) names the server, never its password.
    """
    meta = _meta(conn)
    if CHECK_KEY in meta:
        if key is None:
            raise DatabaseKeyError(f"{where}: the gallery's face data is encrypted; {KEY_HINT}")
        return _checked(meta, key, where)
    if key is None:
        return None
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            meta = _meta(conn)  # another station may have set it up while we waited
            if CHECK_KEY in meta:
                return _checked(meta, key, where)
            plain = conn.execute("SELECT EXISTS (SELECT 1 FROM templates)"
                                 " OR EXISTS (SELECT 1 FROM people WHERE has_thumbnail)"
                                 " OR EXISTS (SELECT 1 FROM unknown_sightings)").fetchone()[0]
            if plain:
                raise StoreError(f"{where}: a key was given, but this gallery already holds unencrypted face data; "
                                 "open it without a key (unset FACEAPP_DB_KEY), or start an encrypted gallery "
                                 "in a new, empty database")
            salt = new_salt()
            cipher = BlobCipher.from_key_text(key, salt)
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s), (%s, %s)",
                         (SALT_KEY, salt.hex(), CHECK_KEY, cipher.seal(_CHECK_TEXT, _CHECK_CONTEXT).hex()))
            return cipher
    except pg_errors.InsufficientPrivilege:
        raise StoreError(f"{where}: a key was given for a gallery that is not encrypted yet, and the role "
                         f"{conn.info.user!r} may not set its key up: open it once with the key as the "
                         "administrator (after 'faceapp db init' as the database owner)") from None
