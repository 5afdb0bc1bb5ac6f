"""The fix of vllm-project/vllm#43909, hardened; this project's own code.

The methods below join vLLM's ``Gemma4MTP`` class. Each one that has the name
of a vLLM method wraps it: vLLM's own method stays in the class as
``_vllm_patches_orig_<name>`` and is called from here. Runtime mode binds these
functions to the globals of ``vllm.model_executor.models.gemma4_mtp``; source
mode writes their text into that module. Either way ``torch`` and the
tensor-parallel helpers are looked up in vLLM's module when they are called,
as vLLM's own code does, so a harness that replaces the helpers there is
honoured.
"""

# ruff: noqa: F821  (names resolve in vLLM's module, see above)
from __future__ import annotations


class Gemma4MTP:
    def _get_full_lm_head_weight(self):
        # vllm-patches: keep the gathered lm_head weight alive (vllm#43909).
        # CUDA graphs captured over it read its address on every replay.
        cached = getattr(self, "_stable_full_lm_head_weight", None)
        if cached is not None:
            return cached
        weight = self._vllm_patches_orig__get_full_lm_head_weight()
        if get_tensor_model_parallel_world_size() > 1:
            weight = weight.contiguous()
            # A tensor made during capture belongs to the graph's pool: use
            # it for this capture only, never cache it.
            if not (weight.is_cuda and torch.cuda.is_current_stream_capturing()):
                self._stable_full_lm_head_weight = weight
        return weight

    def load_weights(self, weights):
        # vllm-patches: new weights go into the cached gathered weight in
        # place, so graphs captured over it stay valid and read them.
        stable = getattr(self, "_stable_full_lm_head_weight", None)
        loaded = self._vllm_patches_orig_load_weights(weights)
        self._vllm_patches_refresh_full_lm_head_weight(stable)
        return loaded

    def _vllm_patches_refresh_full_lm_head_weight(self, stable):
        # vllm-patches: gather the reloaded weight, then copy it into the
        # storage the captured graphs read. A change of shape or dtype cannot
        # be done in place: the new tensor is kept and graphs must be
        # captured again, as after any such change.
        if stable is None:
            return
        self._stable_full_lm_head_weight = None
        fresh = self._get_full_lm_head_weight()
        if (
            fresh.shape == stable.shape
            and fresh.dtype == stable.dtype
            and fresh.device == stable.device
        ):
            if fresh.data_ptr() != stable.data_ptr():
                with torch.no_grad():
                    stable.copy_(fresh)
            self._stable_full_lm_head_weight = stable
