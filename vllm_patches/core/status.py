"""The status report: the state of each catalogued patch for one vLLM, and what the
environment adds to it (who applies a patch at start-up, pairs that must not both be in
place, a source write that was interrupted).

One object, built once, for ``vllm_patches.status()`` and ``vllm-patches status`` alike.
What only the modes above core can read (the runtime's auto-patching, the source mode's
record and journal) is read there and handed to ``build``: the report itself is core's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from vllm_patches.core import messages
from vllm_patches.core.detect import VllmInstall
from vllm_patches.core.overlaps import Overlap, overlaps
from vllm_patches.core.state import (
    APPLICABLE,
    APPLIED,
    FIXED_UPSTREAM,
    NOT_APPLICABLE,
    TARGET_MODIFIED,
    PatchStatus,
)
from vllm_patches.core.words import Mode, Word

__all__ = ["Advisory", "Coverage", "Standing", "StatusReport", "build"]


class Standing(Word):
    """Where one security advisory stands for the vLLM of a status report."""

    FIXED_UPSTREAM = "fixed-upstream"  # the release (or fork) has upstream's fix
    PATCHED = "patched"  # a patch closes it: written in the files, or the plugin puts it in
    OPEN = "open"  # this vLLM has the hole and nothing here closes it
    NOT_AFFECTED = "not-affected"  # the release is outside the advisory's range


@dataclass(frozen=True)
class Advisory:
    """One advisory id, the patch that fixes it, and where it stands here."""

    id: str
    patch: str
    standing: Standing
    how: str  # fixed upstream in X / written into the files / put in by the plugin / ...
    severity: str | None
    cvss: float | None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "patch": self.patch, "standing": str(self.standing),
                "how": self.how, "severity": self.severity, "cvss": self.cvss}


class Coverage(Protocol):
    """Which patches vLLM's processes here apply at start-up (``runtime.autopatch``)."""

    @property
    def selection_problem(self) -> str | None: ...

    def covers(self, patch_id: str) -> bool: ...

    def next_step(self, patch_id: str) -> str: ...

    def summary(self) -> str: ...

    def to_dict(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class StatusReport:
    """The vLLM found (None: none) and the state of each patch asked about."""

    install: VllmInstall | None
    patches: tuple[PatchStatus, ...]
    autopatch: Coverage | None = None  # None for a --target tree: start-up is this vLLM's
    covered: frozenset[str] = frozenset()  # applicable patches the plugin applies at start-up
    conflicts: tuple[Overlap, ...] = ()  # pairs of these patches that must not both be in place
    pending_write: bool = False  # an interrupted source write waits in the tree's journal
    warnings: tuple[str, ...] = ()  # a corrupt source record, a bad VLLM_PATCHES: sentences

    @property
    def needs_attention(self) -> tuple[PatchStatus, ...]:
        """What ``status --check`` exits 1 for: a fix blocked by a fork's change, or needed
        and put in neither in the files nor by the plugin at start-up."""
        return tuple(s for s in self.patches if s.state == TARGET_MODIFIED
                     or (s.state == APPLICABLE and s.patch.id not in self.covered))

    @property
    def advisories(self) -> tuple[Advisory, ...]:
        """Each advisory of these patches and where it stands: a patch counts only where
        ``status --check`` would pass it (written into the files here, or applicable and put
        in by the plugin at start-up); a fork's change that blocks the fix leaves it open."""
        found = []
        for s in self.patches:
            standing, how = self._standing(s)
            found += [Advisory(a, s.patch.id, standing, how, s.patch.severity, s.patch.cvss)
                      for a in s.patch.advisories]
        return tuple(found)

    def _standing(self, s: PatchStatus) -> tuple[Standing, str]:
        if s.state == FIXED_UPSTREAM:
            return Standing.FIXED_UPSTREAM, messages.advisory_fixed_upstream(s.patch)
        if s.state == NOT_APPLICABLE:
            return Standing.NOT_AFFECTED, s.reason
        if s.state == APPLIED:  # in the files, or in this very process
            return Standing.PATCHED, (messages.advisory_patched_source(s.patch.id)
                                      if s.mode == Mode.SOURCE
                                      else messages.advisory_patched_here(s.patch.id))
        if s.state == APPLICABLE and s.patch.id in self.covered:
            return Standing.PATCHED, messages.advisory_patched_runtime(s.patch.id)
        return Standing.OPEN, s.next_step

    @property
    def open_advisories(self) -> tuple[Advisory, ...]:
        """What ``status --advisories`` exits 1 for."""
        return tuple(a for a in self.advisories if a.standing == Standing.OPEN)

    def to_dict(self) -> dict[str, object]:
        return {
            "vllm": self.install.to_dict() if self.install else None,
            "autopatch": self.autopatch.to_dict() if self.autopatch else None,
            "patches": [{**s.to_dict(), "autopatch": s.patch.id in self.covered}
                        for s in self.patches],
            "conflicts": [{"patches": [o.first.id, o.second.id], "functions": list(o.functions),
                           "composition": str(o.composition),
                           "says": f"{o.first.id} {o.describe(o.first)}"}
                          for o in self.conflicts],
            "pending_write": self.pending_write,
            "advisories": [a.to_dict() for a in self.advisories],
        }

    def __iter__(self) -> Iterator[object]:
        """``install, statuses = vllm_patches.status()``: the tuple it returned before this
        object, for one release (with a DeprecationWarning)."""
        import warnings

        warnings.warn("vllm_patches.status() returns a StatusReport: use .install and "
                      ".patches; unpacking it goes in the next release.", DeprecationWarning,
                      stacklevel=2)
        return iter((self.install, list(self.patches)))


def build(install: VllmInstall | None, statuses: Sequence[PatchStatus], *,
          autopatch: Coverage | None = None, pending_write: bool = False,
          warnings: Sequence[str] = ()) -> StatusReport:
    """The report of ``statuses``: an applicable patch that the plugin applies at start-up
    gets that as its next step, the others the way to get it applied."""
    covered = frozenset(s.patch.id for s in statuses if autopatch is not None
                        and s.state == APPLICABLE and autopatch.covers(s.patch.id))
    if autopatch is not None:
        statuses = [_next_step(s, autopatch, covered) for s in statuses]
    problem = autopatch.selection_problem if autopatch is not None else None
    return StatusReport(install, tuple(statuses), autopatch, covered, _conflicts(statuses),
                        pending_write, (*warnings, *([f"{problem}."] if problem else [])))


def _next_step(status: PatchStatus, autopatch: Coverage, covered: frozenset[str]) -> PatchStatus:
    if status.state != APPLICABLE:
        return status
    pid = status.patch.id
    return replace(status, next_step=messages.next_apply_covered(pid) if pid in covered
                   else autopatch.next_step(pid))


def _conflicts(statuses: Sequence[PatchStatus]) -> tuple[Overlap, ...]:
    """Pairs of the listed patches that must not both be in place, where both concern this
    vLLM (neither is fixed upstream or not applicable here)."""
    live = [s.patch for s in statuses if s.state not in (FIXED_UPSTREAM, NOT_APPLICABLE)]
    return tuple(o for o in overlaps(live) if o.conflicting)
