"""A synthetic catalogue, written by the tests over real release files.

The engines (the source splice, the runtime, the verdict, the process report, the mbox
export) are tested on these made-up patches, not through one catalogued fix, so their tests
outlive every patch of the built-in catalogue. Each patch wraps a small function that every
release from 0.17.0 to 0.33.0 has; its fingerprints are computed by the project's own code
over the real release files of ``RELEASES``, as ``catalog fingerprint`` records them:

- ``METHOD``: a method wrap that adds a method of its own to the class,
- ``FUNCTION``: a module-level function wrap (from-imported copies get rebound),
- ``SHAPES``: a method whose code differs between the releases (two pre-fix shapes),
- ``FIXED``: a method that upstream changed from ``FIXED.fixed_from`` on (fixed-upstream).

None of these fixes is one that vLLM needs: each one changes what its function returns in a
way a test can see, and nothing else.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from tests.catalogues import print_of, write_patch
from vllm_patches.core.catalog import Patch, load_catalog

FIRST, LAST = "0.17.0", "0.33.0"  # the oldest and newest release the tests fetch
RELEASES = (FIRST, LAST)
EXTRA = 1000  # what each visible fix adds to its function's answer


@dataclass(frozen=True)
class Synthetic:
    """One made-up patch: the function it wraps and its fix's text."""

    id: str
    module: str
    class_name: str | None
    name: str
    fix: str
    adds: tuple[str, ...] = ()
    fixed_from: str | None = None  # upstream has the fix from this release on

    @property
    def relpath(self) -> str:
        return self.module.replace(".", "/") + ".py"

    @property
    def qualname(self) -> str:
        return ".".join(p for p in (self.module, self.class_name, self.name) if p)

    @property
    def original(self) -> str:
        return f"_vllm_patches_orig_{self.name}"

    def fixed(self, version: str) -> bool:
        return self.fixed_from is not None and Version(version) >= Version(self.fixed_from)

    def fingerprint(self, version: str) -> str:
        """The shape of the wrapped function in that release's file."""
        return print_of(version, self.relpath, self.name, self.class_name)


_HEAD = '"""A synthetic fix written by the tests (tests/synthetic.py)."""\n\n# ruff: noqa: F821\n'

METHOD = Synthetic(
    "synthetic-method", "vllm.v1.engine.detokenizer", "IncrementalDetokenizer",
    "num_output_tokens", adds=("_vllm_patches_synthetic_extra",), fix=_HEAD + f'''

class IncrementalDetokenizer:
    def num_output_tokens(self) -> int:
        # vLLM's count, plus what the method this fix adds says.
        return self._vllm_patches_orig_num_output_tokens() + self._vllm_patches_synthetic_extra()

    def _vllm_patches_synthetic_extra(self) -> int:
        return {EXTRA}
''')

FUNCTION = Synthetic("synthetic-function", "vllm.utils.math_utils", None, "round_up",
                     fix=_HEAD + f'''

def round_up(x: int, y: int) -> int:
    return _vllm_patches_orig_round_up(x, y) + {EXTRA}
''')

SHAPES = Synthetic(
    "synthetic-shapes", "vllm.v1.engine.detokenizer", "BaseIncrementalDetokenizer", "update",
    fix=_HEAD + '''

class BaseIncrementalDetokenizer:
    def update(self, new_token_ids: list[int], stop_terminated: bool) -> str | None:
        return self._vllm_patches_orig_update(new_token_ids, stop_terminated)
''')

FIXED = Synthetic(
    "synthetic-fixed-upstream", "vllm.sampling_params", "SamplingParams",
    "_verify_greedy_sampling", fixed_from="0.27.0", fix=_HEAD + '''

class SamplingParams:
    def _verify_greedy_sampling(self) -> str:
        self._vllm_patches_orig__verify_greedy_sampling()
        return "synthetic"
''')

SPECS = (METHOD, FUNCTION, SHAPES, FIXED)


def pre_fix_releases(spec: Synthetic, releases=RELEASES) -> tuple[str, ...]:
    """The releases of ``releases`` that hold the code before the synthetic fix."""
    return tuple(v for v in releases if not spec.fixed(v))


def write_one(root: Path, spec: Synthetic, releases=RELEASES, *, patch_id: str | None = None,
              affected: str | None = None, fields: dict | None = None) -> Path:
    """The patch folder of ``spec``, with the shapes ``releases`` have (seen table too);
    ``fields``: more top-level fields of patch.toml (advisories, say)."""
    seen: dict[str, list[str]] = {}
    for version in releases:
        seen.setdefault(spec.fingerprint(version), []).append(version)
    pre = [fp for fp, vs in seen.items() if not spec.fixed(vs[0])]
    fixed = [fp for fp, vs in seen.items() if spec.fixed(vs[0])]
    affected = affected or f">={FIRST}" + (f",<{spec.fixed_from}" if spec.fixed_from else "")
    return write_patch(root, patch_id or spec.id, name=spec.name, fix=spec.fix, pre_fix=pre,
                       fixed=fixed, seen=seen, affected=affected, module=spec.module,
                       class_name=spec.class_name, adds=spec.adds,
                       applied_upstream=spec.fixed_from, fields=fields)


def write_catalogue(root: Path, specs=SPECS, releases=RELEASES) -> Path:
    """A user catalogue folder of the synthetic patches."""
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        write_one(root, spec, releases)
    return root


@dataclass(frozen=True)
class Catalogue:
    """A written synthetic catalogue: its folder and its patches, loaded as users' are."""

    root: Path

    def patch(self, spec: Synthetic) -> Patch:
        return next(p for p in load_catalog(self.root) if p.id == spec.id)

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to see this catalogue beside the built-in one."""
        return {"VLLM_PATCHES_CATALOG": str(self.root)}


EARLIER = "synthetic-method-earlier"  # METHOD's fix, shared, for releases before FIRST


@functools.cache
def solo() -> Catalogue:
    """A catalogue in which METHOD is the one patch of its module (for source mode, whose
    tests compare the bytes of one fix), with FIXED and ``EARLIER``, which no release here is
    affected by; written once per process (tests that write files in the tree need it before
    any fixture could)."""
    root = Path(tempfile.mkdtemp(prefix="vllm-patches-solo-"))
    atexit.register(shutil.rmtree, root, True)
    write_one(root, METHOD)
    write_one(root, FIXED)
    # An older shape of the function (a made-up fingerprint), as a fix backported further
    # back would have: the same pre-fix shape in two patches is a clash of its own.
    write_patch(root, EARLIER, name=METHOD.name, fix="", pre_fix=["0123456789abcdef"],
                affected=f"<{FIRST}", fix_from=METHOD.id, module=METHOD.module,
                class_name=METHOD.class_name, adds=METHOD.adds)
    return Catalogue(root)
