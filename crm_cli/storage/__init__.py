"""All SQL lives here: one module per entity or concern."""

from crm_cli.storage import search as _search  # noqa: F401  (registers the index refresher)
from crm_cli.storage.db import Db, open_db, transaction

__all__ = ["Db", "open_db", "transaction"]
