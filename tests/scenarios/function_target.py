"""A module-level function target at run time: vLLM's own check_stop_strings.

A module of this test binds a copy with ``from ... import check_stop_strings``
before the patch goes in; apply() must rebind it too, revert() put it back. A
second module binds its copy while the patch is in (it holds the fix): revert()
must put the original back there as well.
Prints one JSON object.
"""

import json
import sys
import types

import vllm_patches
from vllm_patches.runtime import patcher as runtime
from vllm_patches.core.catalog import get_patch

PATCH = "stop-string-earliest-match"
from vllm.v1.engine import detokenizer  # noqa: E402

original = detokenizer.check_stop_strings
copy_module = types.ModuleType("vllm._vllm_patches_test_copy")
exec("from vllm.v1.engine.detokenizer import check_stop_strings", copy_module.__dict__)
sys.modules[copy_module.__name__] = copy_module

sys.path.insert(0, str(get_patch(PATCH).folder))
import check  # noqa: E402  the patch's own behaviour check

out = {"bug_before": check.run()["bug"]}
out["apply"] = [o.outcome for o in vllm_patches.apply([PATCH])]
out["bug_after"] = check.run()["bug"]
if out["apply"] != ["applied"]:
    print(json.dumps(out))
    sys.exit(0)
out["copy_rebound"] = copy_module.check_stop_strings is detokenizer.check_stop_strings
out["marked"] = runtime.is_marked(detokenizer.check_stop_strings)
out["original_kept"] = detokenizer._vllm_patches_orig_check_stop_strings is original
out["verdict"] = str(runtime.examine(get_patch(PATCH))[0].state)
out["again"] = [o.outcome for o in vllm_patches.apply([PATCH])]
later_module = types.ModuleType("vllm._vllm_patches_test_later_copy")
exec("from vllm.v1.engine.detokenizer import check_stop_strings", later_module.__dict__)
sys.modules[later_module.__name__] = later_module
out["later_copy_patched"] = runtime.is_marked(later_module.check_stop_strings)
out["revert"] = [o.outcome for o in vllm_patches.revert([PATCH])]
out["back"] = detokenizer.check_stop_strings is original and copy_module.check_stop_strings is original
out["later_copy_back"] = later_module.check_stop_strings is original
out["orig_name_gone"] = not hasattr(detokenizer, "_vllm_patches_orig_check_stop_strings")
out["bug_after_revert"] = check.run()["bug"]
# take_out: revert, and prove it (what verify's patched arm and catalog check rely on).
vllm_patches.apply([PATCH])
taken = runtime.take_out(get_patch(PATCH))
out["take_out"] = [taken.outcome.outcome, taken.left, taken.clean,
                   detokenizer.check_stop_strings is original,
                   copy_module.check_stop_strings is original]
taken = runtime.take_out(get_patch(PATCH))
out["take_out_again"] = [taken.outcome.outcome, taken.left, taken.clean]
print(json.dumps(out))
