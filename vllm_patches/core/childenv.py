"""The environment of a process vllm-patches starts to run vLLM code in (a check's arm,
``catalog check``'s runtime step, the tests' subprocesses): one decision, here.

A child keeps the user's environment but for the vllm-patches settings that would change
what it runs or where it writes: which patches apply (``VLLM_PATCHES``), strict mode, the
report and its run, a version override, the fault hook. Those reach a child only when the
caller sets them for it. It keeps where the catalogue and the caches are, how ``verify``
starts its jobs and whether errors show their traceback (``KEPT``), so it reads the
patches and releases its parent reads and a ``vllm-patches`` it runs behaves as the user
asked. Every other
``VLLM_PATCHES*`` variable is dropped, so that a new setting is left out until someone
decides a child needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vllm_patches.core.catalog_files import CATALOG_ENV, PACKAGE_PARENT
from vllm_patches.core.detect import VERSION_ENV, VllmInstall
from vllm_patches.core.files import CACHE_ENV
from vllm_patches.core.shape_cache import ENV as SHAPE_CACHE_ENV

PREFIX = "VLLM_PATCHES"
# verify.preload's and the CLI's settings by name: core may not import those layers.
KEPT = frozenset({CATALOG_ENV, CACHE_ENV, SHAPE_CACHE_ENV, "VLLM_PATCHES_PRELOAD",
                  "VLLM_PATCHES_DEBUG"})


def inherited(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the vllm-patches settings a child must not inherit."""
    return {k: v for k, v in env.items() if not k.startswith(PREFIX) or k in KEPT}


def child_env(*first: Path | str, install: VllmInstall | None = None,
              inherit_path: bool = True, **settings: str) -> dict[str, str]:
    """This process's environment for a child: ``first`` ahead on ``PYTHONPATH`` (a vLLM
    tree under test), then the inherited path (unless ``inherit_path`` is false), then this
    vllm_patches; vLLM's logging at ERROR unless the user chose a level; a version the user
    gave for ``install`` (``--vllm-version``) passed on; ``settings`` last."""
    env = inherited(os.environ)
    inherited_path = env.get("PYTHONPATH") if inherit_path else None
    paths = [str(p) for p in first] + ([inherited_path] if inherited_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, PACKAGE_PARENT])
    env.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    if install is not None and install.version_from == "override" and install.raw_version:
        env[VERSION_ENV] = install.raw_version
    env.update(settings)
    return env
