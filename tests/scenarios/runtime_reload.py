"""apply(), then importlib.reload of the target module, then apply() again.

Prints what each step answered and whether the class that runs is patched.
"""

import importlib
import json

import vllm_patches
from vllm_patches.runtime import patcher as runtime
from mtp import import_mtp_module

PATCH = "gemma4-mtp-stable-lm-head"
module = import_mtp_module()
out = {"first": vllm_patches.apply([PATCH])[0].outcome}
module = importlib.reload(module)
out["applied_after_reload"] = runtime.is_applied(PATCH)
out["live_marked_after_reload"] = runtime.is_marked(module.Gemma4MTP.__dict__["_get_full_lm_head_weight"])
out["second"] = vllm_patches.apply([PATCH])[0].outcome
out["live_marked_after_second"] = runtime.is_marked(module.Gemma4MTP.__dict__["_get_full_lm_head_weight"])
out["third"] = vllm_patches.apply([PATCH])[0].outcome
out["revert"] = vllm_patches.revert([PATCH])[0].outcome
out["live_marked_after_revert"] = runtime.is_marked(module.Gemma4MTP.__dict__["_get_full_lm_head_weight"])
print(json.dumps(out))
