"""The one registry mechanism of the project (docs/design.md "Layout": an upper app tells a lower
one what to call, by name, at start-up).

A lower module owns a ``Registry`` (``orders.hooks.PAID``, ``shop.sweepers.SWEEPERS``,
``shop.ledger.checks.CHECKS`` …); the apps above it fill it in ``AppConfig.ready()``.
Every registry behaves the same way:

- an entry has a name, unique in its registry: registering a taken name raises
  ``RegistryError`` at start-up (two apps claiming one payment purpose is a bug to see
  at once, not an overwrite to find in production);
- entries come back in the order they were registered (handlers run in that order);
- a test swaps an entry in for its own duration with ``override`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

_MISSING = object()


class RegistryError(RuntimeError):
    """A name registered twice, or looked up but never registered: a start-up bug."""


class Registry(Generic[T]):
    """Named entries registered at start-up; see the module's docstring."""

    def __init__(self, what: str) -> None:
        self.what = what  # e.g. "payment purpose": said in errors
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise RegistryError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(f"no {self.what} {name!r} is registered") from None

    def find(self, name: str, default: T | None = None) -> T | None:
        """The entry, or ``default`` where a missing name is normal (optional handlers)."""
        return self._entries.get(name, default)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def override(self, name: str, entry: T) -> Iterator[T]:
        """For tests: ``entry`` under ``name`` until the block ends (an entry already there
        comes back afterwards, in its place; a new one goes away)."""
        previous = self._entries.get(name, _MISSING)
        self._entries[name] = entry
        try:
            yield entry
        finally:
            if previous is _MISSING:
                self._entries.pop(name, None)
            else:
                self._entries[name] = previous  # type: ignore[assignment]

    @contextmanager
    def emptied(self) -> Iterator[None]:
        """For tests: no entries until the block ends, then the old ones back."""
        saved = dict(self._entries)
        self._entries.clear()
        try:
            yield
        finally:
            self._entries.clear()
            self._entries.update(saved)
