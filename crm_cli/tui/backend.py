"""The dashboard's one database connection, used from one thread so the interface never waits.

Every read and write goes through ``Backend.call(fn, *args)``: ``fn(db, *args)`` runs in
a single worker thread that owns the connection (SQLite connections stay in the thread
that made them), and the coroutine resumes on the interface's loop with the answer or
the domain error. One thread means the dashboard's own writes are serialised and each
is a short transaction of the domain layer (``BEGIN IMMEDIATE``, busy timeout), exactly
as a ``crm`` command would write it, under the same acting user.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from crm_cli.storage.db import Db

T = TypeVar("T")


class Backend:
    def __init__(self, path: str | None, actor: str | None):
        self.path, self.actor = path, actor
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crm-dash-db")
        self._db: Db | None = None
        self._guard = threading.Lock()
        self._interruptible = False  # a read that a newer one replaces is running

    def _session(self) -> Db:
        if self._db is None:
            from crm_cli.domain.session import open_session

            self._db = open_session(self.path, actor=self.actor, command="crm dash",
                                    must_exist=True)  # fmt: skip
        return self._db

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in the database thread and return its answer."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._session(), *args, **kwargs))

    async def call_interruptible(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Like ``call`` for a read that ``interrupt`` may stop (a search a newer keystroke
        replaced): then it answers None. Never used for writes."""

        def run(db: Db, *a: Any) -> T | None:
            with self._guard:
                self._interruptible = True
            try:
                return fn(db, *a)
            except sqlite3.OperationalError as e:
                if "interrupt" in str(e):
                    return None
                raise
            finally:
                with self._guard:
                    self._interruptible = False

        return await self.call(run, *args)

    def interrupt(self) -> None:
        """Stop the interruptible read running in the database thread, if one is (SQLite's
        interrupt is thread-safe; the flag and the lock keep it off any other call)."""
        with self._guard:
            if self._interruptible and self._db is not None:
                self._db.conn.interrupt()

    def data_version(self, db: Db) -> int:
        return db.data_version()

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)
