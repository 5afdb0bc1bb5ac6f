"""Which catalogued patches a vLLM class runs: the ids marked on its methods."""

import sys

MODULE = "vllm.model_executor.models.gemma4_mtp"


def patched_ids(module_name: str = MODULE, class_name: str = "Gemma4MTP") -> list[str]:
    """Patch ids found on the class's methods; [] when the module is not imported."""
    module = sys.modules.get(module_name)
    if module is None:
        return []
    members = vars(getattr(module, class_name)).values()
    marks = {getattr(f, "__vllm_patches__", None) for f in members}
    return sorted(m for m in marks if m)
