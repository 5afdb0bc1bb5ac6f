"""vllm-patches: upstream vLLM fixes for the vLLM you run.

Library use::

    import vllm_patches
    report = vllm_patches.status()        # what `vllm-patches status` prints, as an object
    vllm_patches.apply_runtime()          # runtime-patch this process; returns outcomes
    vllm_patches.revert_runtime()         # put the original functions back
    vllm_patches.apply_source(target=d)   # write the fixes into a tree's files (the CLI's apply)

``apply`` and ``revert`` are ``apply_runtime`` and ``revert_runtime`` (the names they had
before the mode was named). The package imports nothing heavy until a verb is called or a
type is first looked up, so that the vLLM plugin and the optional .pth hook cost almost
nothing at start-up.
"""

from vllm_patches._version import __version__

# Not typing.TYPE_CHECKING: the .pth hook imports this package in every Python process,
# which must not pay for importing typing (type checkers read the name as True).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from vllm_patches.api import (apply_runtime, apply_runtime as apply, apply_source,
                                  revert_runtime, revert_runtime as revert, revert_source,
                                  status)
    from vllm_patches.core.detect import VllmInstall
    from vllm_patches.core.errors import VllmPatchesError
    from vllm_patches.core.state import PatchStatus, State
    from vllm_patches.core.status import StatusReport
    from vllm_patches.core.words import Mode, Outcome
    from vllm_patches.runtime.patcher import PatchError, Result as RuntimeResult
    from vllm_patches.source.plan import Report as SourceReport

__all__ = [
    "__version__",
    # the verbs; apply and revert are apply_runtime and revert_runtime, the names they had
    # before the mode was named
    "apply", "apply_runtime", "apply_source", "revert", "revert_runtime", "revert_source",
    "status",
    # the types a caller needs
    "Mode", "Outcome", "PatchError", "PatchStatus", "RuntimeResult", "SourceReport", "State",
    "StatusReport", "VllmInstall", "VllmPatchesError",
]

# Each name of __all__ but __version__, imported the first time it is asked for (PEP 562):
# name -> (module, attribute).
_LAZY = {
    "apply": ("vllm_patches.api", "apply_runtime"),
    "apply_runtime": ("vllm_patches.api", "apply_runtime"),
    "apply_source": ("vllm_patches.api", "apply_source"),
    "revert": ("vllm_patches.api", "revert_runtime"),
    "revert_runtime": ("vllm_patches.api", "revert_runtime"),
    "revert_source": ("vllm_patches.api", "revert_source"),
    "status": ("vllm_patches.api", "status"),
    "Mode": ("vllm_patches.core.words", "Mode"),
    "Outcome": ("vllm_patches.core.words", "Outcome"),
    "PatchError": ("vllm_patches.runtime.patcher", "PatchError"),
    "PatchStatus": ("vllm_patches.core.state", "PatchStatus"),
    "RuntimeResult": ("vllm_patches.runtime.patcher", "Result"),
    "SourceReport": ("vllm_patches.source.plan", "Report"),
    "State": ("vllm_patches.core.state", "State"),
    "StatusReport": ("vllm_patches.core.status", "StatusReport"),
    "VllmInstall": ("vllm_patches.core.detect", "VllmInstall"),
    "VllmPatchesError": ("vllm_patches.core.errors", "VllmPatchesError"),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'vllm_patches' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted({*globals(), *_LAZY})
