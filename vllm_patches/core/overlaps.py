"""Two patches that touch the same vLLM function, and what they declared about it.

Two patches that wrap one function (same module, class and name) would both rename it
and both put their fix after it: applied together they stack, in an order no one chose,
and the second would read the first's fix as "applied". Two ways to declare how such a
pair goes together:

- one fix shared with ``fix-from`` over affected ranges that do not overlap, so that at
  most one of them is ever applicable to a vLLM (the Gemma 4 MTP pair:
  ``>=0.21.0,<0.23.0`` and ``>=0.23.0``): ``Composition.SHARED_FIX``;
- ``excludes = ["other-id"]`` in either patch.toml: they are alternatives, and whichever
  is in place first keeps the function; the other is refused with a sentence naming both
  (``Composition.EXCLUSIVE``; ``excludes`` also works for patches of different functions
  that must not run together);
- ``after = ["other-id"]`` in one patch.toml: both go in, in that order, this one's fix
  wrapping the other's (``Composition.ORDERED``; ``core.chains`` lays them out).

Anything else is ``Composition.UNDECLARED``: ``catalog check`` fails it, ``status`` warns,
and ``apply`` (runtime and source) refuses the second of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from packaging.version import Version

from vllm_patches.core.catalog import Patch
from vllm_patches.core.versions import VersionRange
from vllm_patches.core.words import Word


class Composition(Word):
    SHARED_FIX = "shared-fix"  # fix-from over disjoint ranges: never both applicable
    EXCLUSIVE = "exclusive"  # one lists the other in excludes
    ORDERED = "ordered"  # one lists the other in after: both go in, in that order
    UNDECLARED = "undeclared"


@dataclass(frozen=True)
class Overlap:
    """Patches ``first`` and ``second`` both wrap ``functions`` (or one excludes the other)."""

    first: Patch
    second: Patch
    functions: tuple[str, ...]  # module[.Class].name; empty for an exclusion alone
    composition: Composition

    @property
    def declared(self) -> bool:
        return self.composition != Composition.UNDECLARED

    @property
    def conflicting(self) -> bool:
        """True when the two must not both be in place."""
        return self.composition not in (Composition.SHARED_FIX, Composition.ORDERED)

    def other(self, patch: Patch) -> Patch:
        return self.second if patch is self.first else self.first

    def describe(self, patch: Patch) -> str:
        other = self.other(patch)
        where = ", ".join(self.functions)
        if self.composition == Composition.SHARED_FIX:
            return (f"wraps {where} as {other.id} does; they share one fix over affected "
                    f"ranges that do not overlap ({patch.affected_text} and "
                    f"{other.affected_text})")
        if self.composition == Composition.EXCLUSIVE:
            who = patch.id if other.id in patch.excludes else other.id
            touches = f" (both wrap {where})" if where else ""
            return (f"excludes {other.id}{touches}, as {who} declares: the one in place first "
                    "is kept and the other refused")
        if self.composition == Composition.ORDERED:
            outer, inner = (patch, other) if other.id in patch.after else (other, patch)
            return (f"wraps {where} with {other.id}: {outer.id}'s fix goes around "
                    f"{inner.id}'s, as {outer.id} declares (after = [\"{inner.id}\"])")
        return (f"wraps {where} as {other.id} ({other.folder}) does, and the two do not say "
                f"how they compose: {_HOW_TO_DECLARE.format(a=patch.id, b=other.id)}")

    def refusal(self, patch: Patch) -> str:
        """Why ``patch`` is refused while the other of the pair is in place."""
        other = self.other(patch)
        if self.composition == Composition.EXCLUSIVE:
            return (f"{patch.id} and {other.id} exclude each other and {other.id} is in "
                    f"place: revert {other.id} first, or leave {patch.id} out")
        return (f"{patch.id} and {other.id} both wrap {', '.join(self.functions)} without "
                f"declaring how they compose, and {other.id} is in place: revert "
                f"{other.id} first, or leave {patch.id} out (to have both, "
                f"{_HOW_TO_DECLARE.format(a=patch.id, b=other.id)})")


# How a pair of patches on one function says how it goes together, for the messages.
_HOW_TO_DECLARE = ('declare an order with after = ["{b}"] in {a}\'s patch.toml (its fix then '
                   "wraps {b}'s) or the other way round, share the fix with fix-from over "
                   "affected ranges that do not overlap, or declare excludes")


def wrapped(patch: Patch) -> set[str]:
    """Every function ``patch`` wraps, as ``module[.Class].name``."""
    return {t.qualname(w.name) for t in patch.targets for w in t.wraps}


def overlaps(patches: Sequence[Patch]) -> list[Overlap]:
    """Every pair of ``patches`` (distinct folders) that wraps a common function or where
    one excludes the other."""
    found = []
    folders = [p.folder.resolve() for p in patches]
    functions = [wrapped(p) for p in patches]
    for i, a in enumerate(patches):
        for j in range(i + 1, len(patches)):
            b = patches[j]
            if folders[i] == folders[j]:
                continue
            common = functions[i] & functions[j]
            if common or b.id in a.excludes or a.id in b.excludes:
                found.append(Overlap(a, b, tuple(sorted(common)), composition(a, b)))
    return found


def rivals(patch: Patch, patches: Sequence[Patch]) -> list[Overlap]:
    """The pairs of ``patch`` with others of ``patches`` that must not both be in place."""
    others = [p for p in patches if p.id != patch.id]
    return [o for o in overlaps([patch, *others])
            if o.conflicting and patch in (o.first, o.second)]


def composition(a: Patch, b: Patch) -> Composition:
    """What two patches that touch one function declared about it."""
    if b.id in a.excludes or a.id in b.excludes:
        return Composition.EXCLUSIVE
    if b.id in a.after or a.id in b.after:
        return Composition.ORDERED
    same_fix = a.fix_path.resolve() == b.fix_path.resolve()
    if same_fix and a.affected is not None and b.affected is not None \
            and disjoint(a.affected, b.affected):  # None only in drafts, never loaded
        return Composition.SHARED_FIX
    return Composition.UNDECLARED


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
