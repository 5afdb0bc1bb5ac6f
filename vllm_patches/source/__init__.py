"""Source mode: the fixes written into vLLM's files, transactionally, revertible byte for byte.

``edit`` splices a fix's text into a module between markers, ``plan`` decides what
``apply`` / ``revert`` / ``diff`` write (re-exported here), ``transaction`` writes all files
or none behind a journal and the lock, ``record`` keeps what was written, ``diffs`` and
``export`` turn the changes into patches and mails.
"""

_PLAN_NAMES = ("apply", "revert", "diff")


def __getattr__(name):
    if name in _PLAN_NAMES:
        from vllm_patches.source import plan
        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
