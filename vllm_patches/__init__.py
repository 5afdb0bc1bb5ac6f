"""vllm-patches: upstream vLLM fixes for the vLLM you run.

Library use::

    import vllm_patches
    vllm_patches.status()      # the state of each catalogued patch here
    vllm_patches.apply()       # runtime-patch this process; returns outcomes
    vllm_patches.revert()      # put the original functions back

The package imports nothing heavy until one of these is called, so that the
vLLM plugin and the optional .pth hook cost almost nothing at start-up.
"""

from vllm_patches._version import __version__

__all__ = ["__version__", "apply", "revert", "status"]


def apply(ids=None, *, force=False, strict=None):
    """Apply catalogued patches (all when ``ids`` is empty) in this process."""
    from vllm_patches.runtime import patcher as runtime
    return runtime.apply(ids, force=force, strict=strict)


def revert(ids=None):
    """Put back the original functions of runtime-applied patches."""
    from vllm_patches.runtime import patcher as runtime
    return runtime.revert(ids)


def status(ids=None, *, target=None, vllm_version=None):
    """``(install, [PatchStatus, ...])`` for the vLLM found (or ``target``)."""
    from vllm_patches.core import catalog
    from vllm_patches.core import detect
    from vllm_patches.source import record
    from vllm_patches.runtime import patcher as runtime
    from vllm_patches.core import state
    install = detect.find_vllm(target, vllm_version)
    try:
        applied = record.load(install.location) if install is not None else None
    except record.RecordError:
        applied = None
    return install, [
        state.patch_status(p, install, runtime_applied=target is None and runtime.is_applied(p.id),
                           record=applied)
        for p in catalog.select(ids)
    ]
