"""The releases the behaviour checks run on: derived from the catalogue, so it grows with it.

Every recorded shape of a CPU-checked patch's target functions inside its affected range
(its ``seen`` tables) must meet the patch's check on some release that has it. The matrix
is the fewest releases that do that, chosen greedily: the release that holds the most
shapes not yet met, the newest on a tie. Each release of the matrix then runs every checked
patch that affects it.

At run time, ``catalog check`` runs each patch's check on its first and last affected
release (tests/test_catalog_check.py runs it over the built-in catalogue), so the shapes
those hold are met there: ``after_catalog_check=True`` gives the matrix of the rest (the
runtime checks of tests/test_verify_checks.py). Source mode has no such run: its matrix
(tests/test_source_behaviour.py) meets every shape itself.
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


def catalog_check_ends() -> dict[str, set[str]]:
    """patch id -> the releases ``catalog check`` runs its check on: the first and the last
    of the affected releases its seen tables name."""
    ends = {}
    for patch in cpu_checked():
        recorded = {r for t in patch.targets for w in t.wraps for rs in w.seen.values()
                    for r in rs if patch.affects(Version(r))}
        found = sorted(recorded, key=Version)
        ends[patch.id] = set(found[:1] + found[-1:])
    return ends


def met_by_catalog_check(shape: tuple[str, str, str, str], releases: set[str],
                         ends: dict[str, set[str]]) -> bool:
    """Whether ``catalog check`` runs the shape's patch on a release that holds it (``ends``:
    ``catalog_check_ends()``)."""
    return bool(releases & ends.get(shape[0], set()))


def releases(after_catalog_check: bool = False) -> list[str]:
    """The fewest releases that hold every shape (greedy; with ``after_catalog_check``,
    every shape ``catalog check`` does not meet), oldest first."""
    ends = catalog_check_ends() if after_catalog_check else {}
    unmet = {shape: rs for shape, rs in shapes().items()
             if not met_by_catalog_check(shape, rs, ends)}
    chosen: set[str] = set()
    while unmet:
        candidates = set().union(*unmet.values())
        best = max(candidates, key=lambda r: (sum(r in rs for rs in unmet.values()), Version(r)))
        chosen.add(best)
        unmet = {shape: rs for shape, rs in unmet.items() if best not in rs}
    return sorted(chosen, key=Version)


def matrix(after_catalog_check: bool = False) -> dict[str, list[str]]:
    """release -> the ids of the CPU-checked patches that affect it, oldest release first."""
    return {v: [p.id for p in cpu_checked() if p.affects(Version(v))]
            for v in releases(after_catalog_check)}


def cases(after_catalog_check: bool = False) -> list[tuple[str, str]]:
    """(patch id, release) for every pair of the matrix."""
    return [(pid, v) for v, ids in matrix(after_catalog_check).items() for pid in ids]
