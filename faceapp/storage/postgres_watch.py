"""Hearing, at a station, that the shared gallery changed elsewhere: LISTEN on the channel the
gallery's triggers NOTIFY when an enrollment, rename, deletion or re-encoding commits.

A watcher has a connection of its own, so it never disturbs the store's transactions. Asking
never blocks; after an outage it reconnects and says "changed", because notifications sent
while it was away are lost.
"""

from __future__ import annotations

import time

import psycopg

from .postgres_connection import RECONNECT_AFTER_S, connect, normal_url
from .postgres_schema import CHANNEL


class PostgresWatcher:
    """``changed()`` tells whether the gallery at ``url`` changed since it was last asked."""

    def __init__(self, url: str) -> None:
        self.url = normal_url(url)
        self._conn: psycopg.Connection | None = None
        self._failed_at: float | None = None
        self._missed = False
        self._listen()  # a server that cannot be reached says so now, as opening a store does

    def _listen(self) -> None:
        conn = connect(self.url)
        conn.execute(f"LISTEN {CHANNEL}")
        self._conn = conn

    @property
    def online(self) -> bool:
        """Whether the watcher is connected (False after an outage until it reconnects)."""
        return self._conn is not None and not self._conn.broken

    def changed(self) -> bool:
        """Whether anything was enrolled, renamed, deleted or re-encoded since the last call
        (also by this station); True once after an outage ends."""
        if not self.online:
            if self._failed_at is not None and time.monotonic() - self._failed_at < RECONNECT_AFTER_S:
                return False
            try:
                self._listen()
            except psycopg.Error:
                self._failed_at = time.monotonic()
                return False
            self._failed_at = None
            return self._missed or True  # what changed while away was never heard
        assert self._conn is not None
        try:
            heard = any(True for _ in self._conn.notifies(timeout=0))
        except psycopg.Error:
            self._conn.close()
            self._failed_at = None  # try again at once: the server may only have restarted
            self._missed = True
            return False
        return heard

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
