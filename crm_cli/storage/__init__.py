"""All SQL lives here: one module per entity or concern."""

# Imported for their side effect: they register the refreshers of derived data
# (the search index, per-contact summaries) that run before every commit.
from crm_cli.storage import deals as _deals  # noqa: F401
from crm_cli.storage import search as _search  # noqa: F401
from crm_cli.storage import summaries as _summaries  # noqa: F401
from crm_cli.storage.db import Db, open_db, transaction

__all__ = ["Db", "open_db", "transaction"]
