"""The vLLM releases that stand for each recorded shape of the patches with a GPU check.

Each wrapped method of a catalogued patch has a ``[targets.wraps.seen]`` table:
fingerprint -> the releases it was seen in. A release is as good as any other
of its shape for the verification, so the newest one of each shape stands for
all of them. ``tools/gpu_bundle.py`` carries those releases to the GPU machine,
``tools/gpu_run.sh`` verifies each pre-fix shape of a patch there, and the CPU
tests run the same releases.

A patch has a GPU check when its ``check.py`` declares ``DEVICE = "cuda"``.
``python -m vllm_patches.verify.gpu.shapes [--pre-fix PATCH_ID]`` prints the
releases, one a line, oldest first. Needs no torch and no vLLM.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from packaging.version import Version



@dataclass(frozen=True)
class Shape:
    """One recorded shape of one wrapped method of one patch."""

    patch: str
    wrap: str
    fingerprint: str
    pre_fix: bool  # the shape the patch applies to (else one upstream's fix has)
    releases: tuple[str, ...]

    @property
    def newest(self) -> str:
        return max(self.releases, key=Version)


def gpu_patches(patches=None) -> tuple:
    """The patches (the catalogue's by default) whose check.py needs a CUDA GPU."""
    from vllm_patches.verify.checks import check_device, check_file

    if patches is None:
        from vllm_patches.core.catalog import load_catalog

        patches = load_catalog()
    return tuple(p for p in patches
                 if (path := check_file(p)) is not None and check_device(path) == "cuda")


def shapes(patches=None) -> list[Shape]:
    """Every recorded shape of every wrapped method of the patches with a GPU check."""
    out = []
    for patch in gpu_patches(patches):
        for target in patch.targets:
            for wrap in target.wraps:
                for fingerprint, releases in wrap.seen.items():
                    out.append(Shape(patch.id, wrap.name, fingerprint,
                                     fingerprint in wrap.pre_fix, tuple(releases)))
    return out


def newest_releases(patches=None) -> list[str]:
    """The newest release of each recorded shape of each patch with a GPU check, oldest
    first."""
    return _sorted({s.newest for s in shapes(patches)})


def pre_fix_releases(patch_id: str, patches=None) -> list[str]:
    """The newest release of each recorded pre-fix shape of one patch (the releases that
    show its bug, and its fix once applied), oldest first."""
    return _sorted({s.newest for s in shapes(patches) if s.patch == patch_id and s.pre_fix})


def _sorted(versions) -> list[str]:
    return sorted(set(versions), key=Version)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vllm_patches.verify.gpu.shapes",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pre-fix", metavar="PATCH_ID",
                        help="only the pre-fix shapes of this patch")
    args = parser.parse_args(argv)
    if args.pre_fix and args.pre_fix not in {p.id for p in gpu_patches()}:
        parser.error(f"{args.pre_fix} is not a catalogued patch with a GPU check "
                     f"({', '.join(p.id for p in gpu_patches())})")
    releases = pre_fix_releases(args.pre_fix) if args.pre_fix else newest_releases()
    for release in releases:
        print(release)


if __name__ == "__main__":
    main()
