"""Specification of faceapp.names: how a person's name is cleaned, checked and compared.

Pure functions, so no database here; tests/storage checks that every store applies them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from faceapp.errors import StoreError
from faceapp.names import MAX_NAME_LENGTH, clean_name, name_key, validate_name


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\t\n", "Ali\x00ce", "Bob\nSmith", "Eve\x1b[31m", "x" * 101, "!!!", " - . ", 42, "\u200b\ufeff",
     "Ann\u202eht", "Bob \u2067Eve\u2069"],
    ids=["empty", "spaces", "whitespace", "nul", "newline", "escape", "too-long", "punctuation", "dashes", "not-text",
         "only-invisible", "bidi-override", "bidi-isolate"],
)
def test_bad_names_are_rejected(name: object) -> None:
    with pytest.raises(StoreError):
        validate_name(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Zoë Ångström", "李雷", "O'Brien-Smith", "R2-D2", "x" * 100, "Дмитрий"])
def test_unicode_names_are_accepted_and_kept(name: str) -> None:
    assert validate_name(f"  {name} ") == name


def test_names_are_cleaned_to_one_form() -> None:
    assert validate_name("  Mary   Ann ") == "Mary Ann"
    assert validate_name("Zoe\u0308") == "Zoë"  # decomposed ë is the same name as composed
    assert len(validate_name("x" * MAX_NAME_LENGTH)) == MAX_NAME_LENGTH


def test_invisible_characters_pasted_into_a_name_are_dropped() -> None:
    assert validate_name("\ufeffAnn\u200b Lee\u00ad") == "Ann Lee"
    assert validate_name("\u0627\u200c\u0628") == "\u0627\u200c\u0628"  # ZWNJ spells some scripts: kept
    assert clean_name("\u2060ann  lee") == "ann lee"  # look-ups clean the same way, without validating


def test_the_name_key_folds_case_in_any_script() -> None:
    assert name_key("ZOË ÅNGSTRÖM") == name_key("zoë ångström")  # SQLite's NOCASE would not fold these
    assert name_key(clean_name("Zoe\u0308")) == name_key("ZOË")
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("Alice") != name_key("Alicia")


def test_the_name_rules_import_no_database_and_no_numpy() -> None:
    """Front ends check names as the user types them, without loading a store backend."""
    code = ("import sys, faceapp.names; "
            "print(sorted(m for m in sys.modules if m.startswith(('faceapp.', 'numpy', 'sqlite'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "['faceapp.errors', 'faceapp.names']"
