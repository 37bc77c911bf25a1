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

    def data_version(self, db: Db) -> int:
        return db.data_version()

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)
