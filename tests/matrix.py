"""The releases the behaviour checks run on: derived from the catalogue, so it grows with it.

Every recorded shape of a CPU-checked patch's target functions inside its affected range
(its ``seen`` tables) must meet the patch's check on some release that has it. The matrix
is the fewest releases that do that, chosen greedily: the release that holds the most
shapes not yet met, the newest on a tie. Each release of the matrix then runs every checked
patch that affects it. The first and last affected release of each patch are
``catalog check``'s (tests/test_catalog_check.py runs it over the built-in catalogue).
"""

from __future__ import annotations

from packaging.version import Version

from vllm_patches.core.catalog import Patch, load_catalog
from vllm_patches.verify.checks import check_device, check_file


def cpu_checked() -> list[Patch]:
    return [p for p in load_catalog()
            if check_file(p) is not None and check_device(check_file(p)) == "cpu"]


def shapes() -> dict[tuple[str, str, str, str], set[str]]:
    """(patch id, scope, function, fingerprint) -> the affected releases recorded with it."""
    found: dict[tuple[str, str, str, str], set[str]] = {}
    for patch in cpu_checked():
        for target in patch.targets:
            for wrap in target.wraps:
                for print_, releases in wrap.seen.items():
                    inside = {r for r in releases if patch.affects(Version(r))}
                    if inside:
                        found[(patch.id, target.scope, wrap.name, print_)] = inside
    return found


def releases() -> list[str]:
    """The fewest releases that hold every shape (greedy), oldest first."""
    unmet = shapes()
    chosen: set[str] = set()
    while unmet:
        candidates = set().union(*unmet.values())
        best = max(candidates, key=lambda r: (sum(r in rs for rs in unmet.values()), Version(r)))
        chosen.add(best)
        unmet = {shape: rs for shape, rs in unmet.items() if best not in rs}
    return sorted(chosen, key=Version)


def matrix() -> dict[str, list[str]]:
    """release -> the ids of the CPU-checked patches that affect it, oldest release first."""
    return {v: [p.id for p in cpu_checked() if p.affects(Version(v))] for v in releases()}


def cases() -> list[tuple[str, str]]:
    """(patch id, release) for every pair of the matrix."""
    return [(pid, v) for v, ids in matrix().items() for pid in ids]
