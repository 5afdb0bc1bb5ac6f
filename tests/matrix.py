"""The releases the behaviour checks run on: derived from the catalogue, so it grows with it.

For each patch with a CPU check: its first affected release, and the newest release of
each shape of its target functions that its ``seen`` tables record inside its affected
range. Every checked patch then meets every version of the code it fixes, and each
release of the matrix runs every checked patch that affects it.
"""

from __future__ import annotations

from packaging.version import Version

from vllm_patches.core.catalog import Patch, load_catalog
from vllm_patches.verify.checks import check_device, check_file


def cpu_checked() -> list[Patch]:
    return [p for p in load_catalog()
            if check_file(p) is not None and check_device(check_file(p)) == "cpu"]


def _releases_of(patch: Patch) -> set[str]:
    chosen: set[str] = set()
    inside_all: set[str] = set()
    for target in patch.targets:
        for wrap in target.wraps:
            for releases in wrap.seen.values():
                inside = [r for r in releases if patch.affects(Version(r))]
                inside_all.update(inside)
                if inside:
                    chosen.add(max(inside, key=Version))
    if inside_all:
        chosen.add(min(inside_all, key=Version))
    return chosen


def matrix() -> dict[str, list[str]]:
    """release -> the ids of the CPU-checked patches that affect it, oldest release first."""
    releases = set().union(*(_releases_of(p) for p in cpu_checked()))
    return {v: [p.id for p in cpu_checked() if p.affects(Version(v))]
            for v in sorted(releases, key=Version)}


def cases() -> list[tuple[str, str]]:
    """(patch id, release) for every pair of the matrix."""
    return [(pid, v) for v, ids in matrix().items() for pid in ids]
