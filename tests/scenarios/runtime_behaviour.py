"""Observe Gemma4MTP._get_full_lm_head_weight and load_weights on a real release.

Usage: runtime_behaviour.py [--apply] [--tp N]

Builds the harness shell of the release on PYTHONPATH *before* any patch (so an
instance made before apply() is covered), optionally applies the runtime
patches, then records what the code does. Prints one JSON object.
"""

import argparse
import json

import torch

import vllm_patches
from vllm_patches.runtime import patcher as runtime
from mtp import build_shell, import_mtp_module

parser = argparse.ArgumentParser()
parser.add_argument("--apply", action="store_true")
parser.add_argument("--tp", type=int, default=2)
args = parser.parse_args()

module = import_mtp_module()
shell = build_shell(module, tp=args.tp)
model = shell.model
out = {"outcomes": [o.to_dict() for o in vllm_patches.apply()] if args.apply else []}

calls = [model._get_full_lm_head_weight() for _ in range(5)]
out["gathers_for_5_calls"] = shell.tp.gathers
out["one_storage"] = len({w.data_ptr() for w in calls}) == 1
out["values_right"] = all(torch.equal(w, shell.expected_full) for w in calls)
out["view_of_parameter"] = calls[0].data_ptr() == model.lm_head.weight.data_ptr()
before = calls[0]

new_weight = torch.randn_like(shell.full_weight)
new_weight[shell.vocab:] = 0
shell.reload(new_weight)
after = model._get_full_lm_head_weight()
out["reload_same_storage"] = after.data_ptr() == before.data_ptr()
out["reload_values_right"] = torch.equal(after, shell.expected_full)
out["old_reference_sees_new_values"] = torch.equal(before, shell.expected_full)

cls = type(model)
out["marked"] = sorted(
    getattr(f, runtime.MARK) for f in vars(cls).values() if getattr(f, runtime.MARK, None)
)
out["revert"] = [o.to_dict() for o in vllm_patches.revert()]
out["class_names_after_revert"] = sorted(n for n in vars(cls) if "vllm_patches" in n)
out["marked_after_revert"] = [n for n, f in vars(cls).items() if getattr(f, runtime.MARK, None)]
print(json.dumps(out))
