"""Runtime mode: the fixes put into vLLM's classes and modules in a running process.

``patcher`` applies and reverts (``apply``, ``revert``, ``is_applied`` are re-exported
here), ``plugin`` is vLLM's ``vllm.general_plugins`` entry point, ``importhook`` applies a
patch when its target module is imported, ``hookfile`` / ``autopatch`` manage the opt-in
``.pth`` hook, ``report`` / ``reportline`` write and read the per-process proof.

Importing this package imports nothing else: the plugin must stay cheap at every vLLM
process start.
"""

_PATCHER_NAMES = ("apply", "revert", "is_applied", "Result", "PatchError")


def __getattr__(name):
    if name == "Outcome":  # Result's name up to 0.1.0 (core.words.Outcome is its .outcome)
        import warnings

        from vllm_patches.runtime import messages, patcher
        warnings.warn(messages.outcome_renamed(), DeprecationWarning, stacklevel=2)
        return patcher.Result
    if name in _PATCHER_NAMES:
        from vllm_patches.runtime import patcher
        return getattr(patcher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
