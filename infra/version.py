"""The hub's version, written once in pyproject.toml and read from the installed distribution's metadata."""

from __future__ import annotations

import functools
import importlib.metadata

DISTRIBUTION = "city-contact-hub"


@functools.cache
def version() -> str:
    """The installed city-contact-hub's version; "0+unknown" when run from sources that were never installed."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
