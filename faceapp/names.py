"""The rules for a person's name: how it is cleaned, checked and compared.

A leaf module (it imports only faceapp.errors) so that the front ends can check a name as
the user types it, and every gallery store can key people by it, without importing a
database backend.
"""

from __future__ import annotations

import unicodedata

from .errors import StoreError

MAX_NAME_LENGTH = 100


def name_key(name: str) -> str:
    """The case-insensitive identity of a name.

    SQLite's NOCASE only folds ASCII, so 'ZOË' and 'zoë' would be two people; the key
    (NFKC + casefold) is what uniqueness and look-ups use.
    """
    return unicodedata.normalize("NFKC", name).casefold()


# Invisible characters that copy-paste brings along (web pages, spreadsheets) and that would make
# "Ann" and "Ann\u200b" two people who look the same: dropped. ZWJ and ZWNJ stay, since some
# scripts spell with them.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff\u200e\u200f\u061c"))
# Bidirectional embeddings, overrides and isolates can make a name display as another: refused.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(name: str) -> str:
    """NFC, invisible characters dropped, whitespace stripped and collapsed: the form names are
    stored in and looked up by."""
    return " ".join(unicodedata.normalize("NFC", name).translate(_INVISIBLE).split())


def validate_name(name: str) -> str:
    """The cleaned name to store, or StoreError saying why it cannot be a person's name.

    Cleans it with :func:`clean_name` (so visually equal names are equal); rejects empty
    names, names over 100 characters, control characters, text-direction overrides and names
    with no letter or digit. Any script is fine ('Zoë Ångström', '李雷').
    """
    if not isinstance(name, str):
        raise StoreError(f"a name must be text, not {type(name).__name__}")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs"):
            raise StoreError(f"the name {name!r} contains a control character ({ch!r}); type it on one line")
        if ch in _BIDI_CONTROLS:
            raise StoreError(f"the name {name!r} contains a text-direction control (U+{ord(ch):04X}), which can "
                             "make it display as another name; type it without one")
    cleaned = clean_name(name)
    if not cleaned:
        raise StoreError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise StoreError(f"a name can be at most {MAX_NAME_LENGTH} characters (this one has {len(cleaned)})")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in cleaned):
        raise StoreError(f"the name {cleaned!r} needs at least one letter or digit")
    return cleaned
