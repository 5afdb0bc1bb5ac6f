"""The Gemma 4 MTP proof's model shell and proposer stand-in, against a real vLLM tree.

Prints one JSON object: what each check saw.
"""

import json

import torch

from mtp import proof as harness

from vllm_patches.runtime import patcher as runtime
from vllm_patches.verify.gpu.isolated import marked_methods

module = harness.import_mtp_module(cpu_platform=True)
proposer_cls = harness.import_proposer_class(cpu_platform=True)
original_gather = module.tensor_model_parallel_all_gather
out = {}

# A stand-in proposer runs vLLM's own functions.
shell = harness.build_shell(module, tp=2)
stand_in = harness.ProposerStandIn(proposer_cls, shell.model, dtype=torch.float32, device="cpu")
out["bound_to_vllm_functions"] = all(
    getattr(stand_in, name).__func__ is proposer_cls.__dict__[name]
    for name in harness.PROPOSER_METHODS
)
stand_in._centroids_sizes = [1, 4, 64]
out["graph_size_for"] = {n: stand_in.graph_size_for(n) for n in (1, 3, 64, 65)}

# New weights are made up front, each shard with its own storage.
new = shell.new_weights(seed=7)
ptrs = [new.full_weight.data_ptr()] + [s.data_ptr() for s in new.shards]
out["new_shards_own_storage"] = len(set(ptrs)) == len(ptrs)
out["new_shards_are_the_chunks"] = all(
    torch.equal(s, c) for s, c in zip(new.shards, new.full_weight.chunk(2, dim=0)))
out["new_weights_differ"] = not torch.equal(new.full_weight, shell.full_weight)
param_ptr = shell.model.lm_head.weight.data_ptr()
shell.reload(new)
out["reload_keeps_param_storage"] = shell.model.lm_head.weight.data_ptr() == param_ptr
out["reload_writes_shard0"] = torch.equal(shell.model.lm_head.weight, new.shards[0])
out["reload_uses_given_shards"] = shell.tp.other_shards[0] is new.shards[1]
out["reload_full_weight_is_new"] = shell.full_weight is new.full_weight
shell.tp.uninstall(module)

# A real rank's shell: its own shard, vLLM's helpers left alone.
rank1 = harness.build_shell(module, tp=2, rank=1, emulate=False)
out["rank1_holds_shard1"] = torch.equal(rank1.model.lm_head.weight,
                                        rank1.full_weight.chunk(2, dim=0)[1])
out["rank1_helpers_untouched"] = module.tensor_model_parallel_all_gather is original_gather
out["rank1_tp"] = [rank1.tp.size, rank1.tp.rank]
try:
    harness.build_shell(module, tp=2, rank=1, emulate=True)
    out["emulated_rank1_refused"] = False
except ValueError:
    out["emulated_rank1_refused"] = True

# The control arm's check sees a runtime patch, and sees it go.
out["marked_before"] = marked_methods(module.Gemma4MTP)
runtime.apply()
out["marked_applied"] = marked_methods(module.Gemma4MTP)
runtime.revert()
out["marked_reverted"] = marked_methods(module.Gemma4MTP)
print(json.dumps(out))
