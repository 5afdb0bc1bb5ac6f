"""Which catalogued patches a vLLM class runs: the ids marked on its methods (by default,
the class of the synthetic method wrap, tests/synthetic.py's METHOD)."""

import sys

from tests.synthetic import METHOD

MODULE = METHOD.module


def patched_ids(module_name: str = MODULE, class_name: str = METHOD.class_name) -> list[str]:
    """Patch ids found on the class's methods; [] when the module is not imported."""
    module = sys.modules.get(module_name)
    if module is None:
        return []
    members = vars(getattr(module, class_name)).values()
    marks = {getattr(f, "__vllm_patches__", None) for f in members}
    return sorted(m for m in marks if m)
