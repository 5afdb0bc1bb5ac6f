"""What the preload server imports (``preload.py``), once, before it forks any job.

The packages every vLLM release imports the same way (``preload.PRELOAD``), and the parts
of torch that ``vllm/__init__`` pulls in through ``vllm.env_override``: ``torch._inductor``
(with ``torch._dynamo``, functorch and ``torch.distributed.tensor`` behind it), about half
of what a preloaded job still spent importing vLLM. Every release 0.17-0.33 sets
``TORCHINDUCTOR_COMPILE_THREADS=1`` before it imports ``torch._inductor`` (whose config
reads it once, at import), so this module does the same first: the child finds the state
vLLM would have made. A package that is not installed is left out.
"""

from __future__ import annotations

import importlib
import os

from vllm_patches.verify.preload import PRELOAD, SET_BY_VLLM

TORCH_PARTS = ("torch._inductor.config", "torch._inductor.ir", "torch._inductor.scheduler",
               "torch._inductor.codegen.wrapper", "torch._inductor.virtualized",
               "torch._inductor.utils", "torch._inductor.dependencies",
               "torch._inductor.kernel.flex.flex_attention", "torch._dynamo",
               "torch.distributed.tensor")


def load(packages: tuple[str, ...]) -> list[str]:
    """Import ``packages`` then ``TORCH_PARTS``, with vLLM's setting made first; the names
    that could not be imported."""
    os.environ.update(SET_BY_VLLM)
    missing = []
    for name in (*packages, *TORCH_PARTS):
        try:
            importlib.import_module(name)
        except Exception:  # an optional package absent or broken: the job imports its own
            missing.append(name)
    return missing


MISSING = load(PRELOAD)  # the fork server imports this module (set_forkserver_preload)
