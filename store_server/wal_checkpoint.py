"""SQLite WAL checkpoints on a thread of their own, off the commit path.

In WAL mode SQLite copies the log back into the database file (a checkpoint) from
inside whichever commit first finds the log over ``wal_autocheckpoint`` pages. With
a busy store that commit is a group commit of many handhelds, so every few batches
their acknowledgements wait for the copy and its fsync. The server therefore raises
its connections' threshold to :data:`BACKSTOP_PAGES` (a safety net only) and runs
passive checkpoints here every ``interval_s``: they never block readers or writers
and take the GIL only between SQLite calls.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# The server's connections still checkpoint themselves past this many pages (40 MB of
# 4 KiB pages), should this thread fall behind or stop.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """Passive checkpoints of the SQLite database at ``path`` every ``interval_s``."""

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0
        self.frames_copied = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def checkpoint_once(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One passive checkpoint: (1 if it could not finish, frames in the log, frames
        now in the database file), as ``PRAGMA wal_checkpoint`` reports them."""
        busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        self.frames_copied += max(copied, 0)
        return busy, logged, copied

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="caddie-wal", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        failing = False
        while not self._stop.wait(self.interval_s):
            try:
                if connection is None:
                    connection = sqlite3.connect(self.path, timeout=1, check_same_thread=False)
                self.checkpoint_once(connection)
            except sqlite3.Error as exc:  # a locked or vanished file: try again next round
                self.failures += 1
                if not failing:  # once per spell of failures, not twice a second
                    log.warning("WAL checkpoints of %s failing: %s", self.path, exc)
                failing = True
                if connection is not None:
                    connection.close()
                    connection = None
                continue
            if failing:
                log.info("WAL checkpoints of %s work again", self.path)
                failing = False
        if connection is not None:
            connection.close()
