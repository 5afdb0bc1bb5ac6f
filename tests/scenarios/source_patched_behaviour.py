"""Import the vLLM tree on PYTHONPATH and measure the fix's behaviour there.

No runtime patch is active while it measures: whatever fix there is comes from
the tree's own files. Then it asks the runtime hook to apply the patch, to see
what the hook does over a source-patched tree. Prints one JSON object (the
measurements); the test decides what they must be.

Usage: source_patched_behaviour.py [PATCH_ID]
"""

from __future__ import annotations

import json
import sys

import torch

from mtp import proof as harness

from vllm_patches.runtime import patcher as runtime
PATCH = sys.argv[1] if len(sys.argv) > 1 else "gemma4-mtp-stable-lm-head"
CALLS = 20
FIX_METHODS = ("_get_full_lm_head_weight", "load_weights",
               "_vllm_patches_refresh_full_lm_head_weight")


def marked(cls) -> list[str]:
    return [n for n in FIX_METHODS if runtime.is_marked(cls.__dict__.get(n))]


module = harness.import_mtp_module()
cls = module.Gemma4MTP
shell = harness.build_shell(module, tp=2)
model = shell.model

result = {
    "module_file": module.__file__,
    "runtime_applied_before": runtime.is_applied(PATCH),
    "marked_before": marked(cls),
    "original_kept_in_class": hasattr(cls, "_vllm_patches_orig__get_full_lm_head_weight"),
}
weights = [model._get_full_lm_head_weight() for _ in range(CALLS)]  # all kept alive
result.update(
    calls=CALLS,
    gathers=shell.tp.gathers,
    storages=len({w.data_ptr() for w in weights}),
    values_right=all(torch.equal(w, shell.expected_full) for w in weights),
)
fresh = torch.randn_like(shell.full_weight)
fresh[shell.vocab:] = 0
shell.reload(fresh)
after = model._get_full_lm_head_weight()
result.update(
    reload_same_storage=after.data_ptr() == weights[0].data_ptr(),
    reload_values_right=torch.equal(after, fresh[: shell.vocab]),
)
outcome = runtime.apply([PATCH])[0]
result.update(hook_outcome=outcome.outcome, marked_after_hook=marked(cls),
              runtime_applied_after=runtime.is_applied(PATCH))
print(json.dumps(result))
