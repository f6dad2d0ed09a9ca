"""Passwords of PostgreSQL galleries, kept out of saved settings: a URL typed with its password
(``postgresql://door:secret@host/faces``) is saved without it, and the password goes to the
system keyring, or where there is none (a station without a desktop) to libpq's own password
file (``~/.pgpass`` or ``$PGPASSFILE``, readable by its owner only), which libpq reads itself.
Opening a URL without a password fills it in from the keyring when it holds one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..storage import display_target, is_postgres_url
from .config import ConfigError

KEYRING_SERVICE = "faceapp PostgreSQL"


def split_password(url: str) -> tuple[str, str | None]:
    """(``url`` without its password, the password or None)."""
    if not is_postgres_url(url):
        return url, None
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url, None
        parts.port  # noqa: B018 - read for its check: a port that is not a number raises here
    except ValueError as exc:  # e.g. '[::1:5432': say so in one line, without the password
        raise ConfigError(f"{url.partition('://')[0]}://...: not a valid URL ({exc}); "
                          "check its host and port") from None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{hostport}")), unquote(parts.password)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{quote(password, safe='')}@{hostport}"))


def _keyring():  # noqa: ANN202 - the keyring module, or None where no secure one exists
    try:
        import keyring
    except ImportError:
        return None
    backend = keyring.get_keyring()
    return keyring if getattr(backend, "priority", 0) >= 1 else None  # the 'fail' and plaintext backends are < 1


def password_file() -> Path:
    """libpq's password file: $PGPASSFILE, else ~/.pgpass (%APPDATA%\\postgresql\\pgpass.conf on Windows)."""
    if os.environ.get("PGPASSFILE"):
        return Path(os.environ["PGPASSFILE"])
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "postgresql" / "pgpass.conf"
    return Path.home() / ".pgpass"


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _write_password_file(url: str, password: str) -> Path:
    """Add (or replace) this server's line in libpq's password file, kept private to its owner."""
    parts = urlsplit(url)
    query = dict(p.partition("=")[::2] for p in parts.query.split("&") if p)
    host = unquote(parts.hostname or query.get("host", "") or "localhost")
    port = str(parts.port or query.get("port") or "*")
    dbname = unquote(parts.path.lstrip("/")) or "*"
    user = unquote(parts.username or "") or "*"
    key = ":".join(_pgpass_field(v) for v in (host, port, dbname, user))
    path = password_file()
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [line for line in lines if not line.startswith(key + ":")]
    lines.append(f"{key}:{_pgpass_field(password)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)  # libpq ignores a password file others can read
    return path


def keep_password(url: str) -> str:
    """``url`` as settings may save it: its password, if any, moved to the system keyring, else
    to libpq's password file. ConfigError when neither can take it."""
    bare, password = split_password(url)
    if password is None:
        return url
    keyring = _keyring()
    try:
        if keyring is not None:
            keyring.set_password(KEYRING_SERVICE, display_target(bare), password)
        else:
            _write_password_file(bare, password)
    except Exception as exc:  # keyring backends raise their own types; OSError from the file
        raise ConfigError(f"could not keep the password of {display_target(bare)} ({exc}); "
                          f"put it in {password_file()} yourself and give the URL without it") from None
    return bare


def with_kept_password(url: str) -> str:
    """A URL without a password, with the keyring's password for it when it keeps one (else as
    it is: libpq then looks in its password file)."""
    if not is_postgres_url(url) or split_password(url)[1] is not None:
        return url
    keyring = _keyring()
    password = keyring.get_password(KEYRING_SERVICE, display_target(url)) if keyring is not None else None
    return _with_password(url, password) if password else url
