"""Two patches that wrap the same vLLM function, and whether they say how they compose.

Two patches that wrap one function (same module, class and name) would both
rename it and both put their fix after it: applied together they stack, in an
order no one chose. For now the one declared way for two such patches to
coexist is to share one fix (``fix-from``) over affected ranges that do not
overlap, so that at most one of them is ever applicable to a vLLM (the
Gemma 4 MTP pair: ``>=0.21.0,<0.23.0`` and ``>=0.23.0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from packaging.version import Version

from vllm_patches.core.catalog import Patch
from vllm_patches.core.versions import VersionRange


@dataclass(frozen=True)
class Overlap:
    """Patches ``first`` and ``second`` both wrap ``functions``."""

    first: Patch
    second: Patch
    functions: tuple[str, ...]  # module[.Class].name
    declared: bool

    def other(self, patch: Patch) -> Patch:
        return self.second if patch is self.first else self.first

    def describe(self, patch: Patch) -> str:
        other = self.other(patch)
        where = ", ".join(self.functions)
        if self.declared:
            return (f"wraps {where} as {other.id} does; they share one fix over affected "
                    f"ranges that do not overlap ({patch.affected_text} and "
                    f"{other.affected_text})")
        return (f"wraps {where} as {other.id} ({other.folder}) does, and the two do not say "
                "how they compose: share the fix with fix-from over affected ranges that do "
                "not overlap, or make them one patch")


def wrapped(patch: Patch) -> set[str]:
    """Every function ``patch`` wraps, as ``module[.Class].name``."""
    return {f"{t.scope}.{w.name}" for t in patch.targets for w in t.wraps}


def overlaps(patches: Sequence[Patch]) -> list[Overlap]:
    """Every pair of ``patches`` (distinct folders) that wraps a common function."""
    found = []
    for i, a in enumerate(patches):
        for b in patches[i + 1:]:
            if a.folder.resolve() == b.folder.resolve():
                continue
            common = wrapped(a) & wrapped(b)
            if common:
                found.append(Overlap(a, b, tuple(sorted(common)), declared(a, b)))
    return found


def declared(a: Patch, b: Patch) -> bool:
    """True when two patches say how they compose: one fix, disjoint affected ranges."""
    same_fix = a.fix_path.resolve() == b.fix_path.resolve()
    return same_fix and disjoint(a.affected, b.affected)


def disjoint(a: VersionRange, b: VersionRange) -> bool:
    """True when no version is in both ranges (read from their bounds; ``!=`` clauses are
    ignored, which can only make two ranges look overlapping)."""
    return _below(_bounds(a), _bounds(b)) or _below(_bounds(b), _bounds(a))


_Bounds = tuple[Version | None, bool, Version | None, bool]  # low, inclusive, high, inclusive


def _bounds(r: VersionRange) -> _Bounds:
    low, low_in, high, high_in = None, True, None, True
    for op, v in r.clauses:
        if op in (">=", ">", "=="):
            inclusive = op != ">"
            if low is None or v > low or (v == low and not inclusive):
                low, low_in = v, inclusive
        if op in ("<", "<=", "=="):
            inclusive = op != "<"
            if high is None or v < high or (v == high and not inclusive):
                high, high_in = v, inclusive
    return low, low_in, high, high_in


def _below(a: _Bounds, b: _Bounds) -> bool:
    """True when range ``a`` ends before range ``b`` begins."""
    high, high_in = a[2], a[3]
    low, low_in = b[0], b[1]
    if high is None or low is None:
        return False
    return high < low or (high == low and not (high_in and low_in))
