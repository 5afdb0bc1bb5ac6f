"""Guards of runtime mode on a real release: threads, forks' changes, strict mode.

Prints one JSON object with what each guard did.
"""

import json
import threading

import vllm_patches
from vllm_patches.runtime import patcher as runtime
from mtp import import_mtp_module

PATCH = "gemma4-mtp-stable-lm-head"
module = import_mtp_module()
cls = module.Gemma4MTP
out = {}

# Eight threads apply at once: one applies, the others find it applied.
results, barrier = [], threading.Barrier(8)


def worker():
    barrier.wait()
    results.extend(o.outcome for o in vllm_patches.apply([PATCH]))


threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out["threads"] = sorted(results)
out["revert_twice"] = [vllm_patches.revert([PATCH])[0].outcome, vllm_patches.revert([PATCH])[0].outcome]


# A fork changed the method: refused, unless forced; strict mode raises.
def _get_full_lm_head_weight(self):  # a fork's own version
    return self.lm_head.weight


original = cls._get_full_lm_head_weight
cls._get_full_lm_head_weight = _get_full_lm_head_weight
refused = vllm_patches.apply([PATCH])[0]
out["modified"] = {"outcome": refused.outcome, "message": refused.message}
try:
    vllm_patches.apply([PATCH], strict=True)
    out["strict"] = "no exception"
except runtime.PatchError as exc:
    out["strict"] = f"PatchError: {exc}"
forced = vllm_patches.apply([PATCH], force=True)[0]
out["forced"] = forced.outcome
out["forced_wraps_fork_code"] = cls._vllm_patches_orig__get_full_lm_head_weight is _get_full_lm_head_weight
vllm_patches.revert([PATCH])
out["fork_code_back"] = cls.__dict__["_get_full_lm_head_weight"] is _get_full_lm_head_weight
cls._get_full_lm_head_weight = original
print(json.dumps(out))
