"""The versions of the packages that made a result, for the record kept beside it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def versions(*packages: str) -> dict[str, str]:
    """Each package's installed version; a checkout run without `pip install` has no metadata for
    farense-tui, and a missing version must not throw away the result it only labels."""
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
