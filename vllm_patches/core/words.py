"""The words users and ``--json`` see: one enum per kind of thing, defined once.

Every mode (runtime, source, backport), the report reader and the CLI use these
members; their values are the strings reports and scripts already read, so a
``str`` comparison with an old value still holds (each member *is* a ``str``).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Arm", "Mode", "Outcome", "Word"]


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


class Outcome(Word):
    """What one call did to one patch: the ``outcome`` of an apply, revert, diff or
    backport result, of a report line, and of ``--json``.

    One enum for every mode, not one per mode: the words the modes share (``applied``,
    ``refused``, ``blocked`` ...) are then the same members wherever they are said, so the
    report reader, ``--json`` and the CLI compare one thing (an enum with members cannot
    be extended, so per-mode enums could not share them). Each group below says which
    mode says it.
    """

    # Runtime and source mode.
    APPLIED = "applied"
    ALREADY_APPLIED = "already-applied"
    SKIPPED = "skipped"
    REFUSED = "refused"
    REVERTED = "reverted"
    NOT_APPLIED = "not-applied"
    # Runtime mode, and the runtime report's lines.
    IN_SOURCE = "applied-in-source"  # source mode's fix is in the file Python imported
    FAILED = "failed"
    INHERITED = "inherited"  # a forked child runs the patch its parent applied
    # Source mode (``--dry-run`` and ``diff``).
    WOULD_APPLY = "would-apply"
    WOULD_REVERT = "would-revert"
    # Source mode and backport: not named, but needed and held back by a fork's change.
    BLOCKED = "blocked"
    # Backport.
    CREATED = "created"
    WOULD_CREATE = "would-create"
    ALREADY_FIXED = "already-fixed"
    ALREADY_BACKPORTED = "already-backported"
    NOT_APPLICABLE = "not-applicable"
    KEPT = "kept"
    ABORTED = "aborted"
    LEFT_ALONE = "left-alone"  # --abort: the state names a worktree that is not this backport's
