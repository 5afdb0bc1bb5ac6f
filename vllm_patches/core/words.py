"""The words users and ``--json`` see: one enum per kind of thing, defined once.

Every mode (runtime, source, backport), the report reader and the CLI use these
members; their values are the strings reports and scripts already read, so a
``str`` comparison with an old value still holds (each member *is* a ``str``).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Arm", "Mode", "Word"]


class Word(str, Enum):
    """An enum whose members print as their value (``str(Mode.RUNTIME) == "runtime"``).

    ``str`` first, so a member compares equal to its value and serialises to JSON
    as it; ``__str__`` so f-strings and click show the value, not ``Mode.RUNTIME``.
    """

    def __str__(self) -> str:
        return self.value


class Mode(Word):
    """How a fix reaches vLLM."""

    RUNTIME = "runtime"  # rebound in the process that imports vLLM (plugin, .pth hook, API)
    SOURCE = "source"    # written into vLLM's files, revertible byte for byte
    BACKPORT = "backport"  # committed onto a fork branch


class Arm(Word):
    """One side of a verification: the tree as it is, or with the fix."""

    CONTROL = "control"
    PATCHED = "patched"
