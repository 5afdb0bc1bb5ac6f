"""vllm-patches fix for vllm-project/vllm#44490 (issue #44175): drain the new block ids every step.

vLLM's KV cache managers record the id of every attention block they hand
out, for the worker to zero before use. Only a model that needs KV cache
zeroing (one with Mamba layers) has them taken, in ``Scheduler.schedule``;
for every other model the list is never emptied and grows for the life of
the engine. The method below wraps vLLM's ``Scheduler.schedule``: vLLM's own
one runs unchanged (``_vllm_patches_orig_schedule``) and, for a model that
does not zero its KV cache, what it left recorded is dropped. A model that
zeroes gets exactly what vLLM gives it.

Runtime mode binds this function to the globals of
``vllm.v1.core.sched.scheduler``; source mode writes it into that module.
"""

from __future__ import annotations


class Scheduler:
    def schedule(self, *args, **kwargs):
        # vllm-patches (vllm#44490): vLLM's own schedule, then drop the block
        # ids no one will read. Arguments pass through as given: vLLM's takes
        # none up to 0.23.0 and throttle_prefills from 0.24.0 on.
        scheduler_output = self._vllm_patches_orig_schedule(*args, **kwargs)
        if not self.needs_kv_cache_zeroing:
            # Only zeroing reads these; vLLM takes them itself when it zeroes.
            self.kv_cache_manager.take_new_block_ids()
        return scheduler_output
