"""A backported branch's vLLM, imported with no runtime patch: does the written fix work?

argv[1]: the folder holding the exported branch's ``vllm/``. Builds the
harness's Gemma4MTP with emulated TP = 2 and prints, as JSON, what the
source issue's tests check: one all-gather over many calls, one storage,
refreshed in place by ``load_weights([])``, with the right values.
"""

import json
from pathlib import Path

import torch

from vllm_patches.runtime import patcher as runtime
from vllm_patches.core.catalog import load_catalog
from mtp import build_shell, import_mtp_module

module = import_mtp_module()
cls = module.Gemma4MTP
shell = build_shell(module, tp=2)
model = shell.model

first = model._get_full_lm_head_weight()
calls = [model._get_full_lm_head_weight() for _ in range(20)]
hidden = torch.randn(3, first.shape[1])
model.get_top_tokens(hidden)
gathers_before_reload = shell.tp.gathers
values_right_before = bool(torch.equal(calls[-1], shell.expected_full))

new_full = torch.randn_like(shell.full_weight)
new_full[shell.vocab:] = 0
shell.reload(new_full)
after = [model._get_full_lm_head_weight() for _ in range(5)]

print(json.dumps({
    "module_file": str(Path(module.__file__).resolve()),
    "runtime_applied": [p.id for p in load_catalog() if runtime.is_applied(p.id)],
    "marked": [name for name, f in vars(cls).items() if getattr(f, runtime.MARK, None)],
    "has_original": "_vllm_patches_orig__get_full_lm_head_weight" in vars(cls),
    "gathers_before_reload": gathers_before_reload,
    "gathers_total": shell.tp.gathers,
    "same_storage": all(t.data_ptr() == first.data_ptr() for t in calls + after),
    "values_right_before": values_right_before,
    "values_right_after": bool(torch.equal(after[-1], shell.expected_full)),
}))
