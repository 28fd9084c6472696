"""What the git and render work tells whoever watches it (metrics.py), without knowing
who that is: the core stays free of any metrics library."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Observer", "Unobserved"]


class Observer(Protocol):
    """Told how long each git fetch and each render took."""

    def git_fetched(self, seconds: float, *, ok: bool) -> None: ...

    def rendered(self, seconds: float, *, ok: bool) -> None: ...


class Unobserved:
    """Nobody watching (the command line, unit tests)."""

    def git_fetched(self, seconds: float, *, ok: bool) -> None:
        return None

    def rendered(self, seconds: float, *, ok: bool) -> None:
        return None
