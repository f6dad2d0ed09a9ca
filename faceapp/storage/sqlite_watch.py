"""Hearing that a SQLite gallery changed in another process (a command-line enrollment while the
window runs). ``PRAGMA data_version``, on a connection of the watcher's own, moves whenever
another connection commits; only then is the ``gallery_changes`` counter read, which triggers
move with every change to people or templates and never with an event.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SqliteWatcher:
    """``changed()`` tells whether people or templates changed since the last call."""

    online = True  # a local file is never out of reach

    def __init__(self, path: str | Path) -> None:
        self._conn: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._count: int | None = None
        if str(path) == ":memory:":
            return  # nobody else can write to it
        try:
            self._conn = sqlite3.connect(f"file:{Path(path).expanduser()}?mode=ro", uri=True)
            self._data_version, self._count = self._read()
        except sqlite3.Error:  # an encrypted file (unreadable without its key), or none: no watching
            self.close()

    def _read(self) -> tuple[int, int | None]:
        assert self._conn is not None
        # fetchall: each statement runs to its end, so the watcher never holds a read open
        # (which would keep deleted rows in the WAL: see SqliteConnection._erase_traces).
        version = int(self._conn.execute("PRAGMA data_version").fetchall()[0][0])
        if version == self._data_version:
            return version, self._count
        rows = self._conn.execute("SELECT n FROM gallery_changes").fetchall()
        return version, int(rows[0][0]) if rows else None

    def changed(self) -> bool:
        if self._conn is None:
            return False
        before = self._count
        try:
            self._data_version, self._count = self._read()
        except sqlite3.Error:
            return False
        return self._count != before

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
