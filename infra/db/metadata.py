"""The whole schema's metadata: the generic tables and every consumer's `tables.py`, for Alembic and checks.

Each consumer declares its tables in `consumers/<name>/tables.py` on the shared `Base`. Nothing at run time needs
them all at once (a consumer imports its own); Alembic's autogenerate and a test that looks at every table do. They
are found by walking the `consumers` package instead of importing each by name, so that `infra` keeps depending on
no consumer and a new consumer's tables are seen without editing this file.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from sqlalchemy import MetaData

from infra.db import tables as _generic  # noqa: F401  (inbox, outbox)
from infra.db.base import Base

CONSUMERS_PACKAGE = "consumers"


def load_all_tables() -> MetaData:
    """Import every `consumers.<name>.tables` module and return the shared metadata, now complete."""
    package = importlib.import_module(CONSUMERS_PACKAGE)
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.ispkg and importlib.util.find_spec(f"{CONSUMERS_PACKAGE}.{module.name}.tables") is not None:
            importlib.import_module(f"{CONSUMERS_PACKAGE}.{module.name}.tables")
    return Base.metadata
