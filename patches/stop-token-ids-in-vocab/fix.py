"""vllm-patches fix for vllm-project/vllm#54196: stop and allowed token ids must be in the
model's vocabulary.

The methods below join vLLM's ``SamplingParams`` class. ``verify`` wraps vLLM's
own one, which stays in the class as ``_vllm_patches_orig_verify`` and runs
after the new bound check, unchanged. Runtime mode binds these functions to the
globals of ``vllm.sampling_params``; source mode writes their text into that
module. ``VLLMValidationError`` is the one ``vllm.sampling_params`` imports
(every release this patch affects has it).
"""

# ruff: noqa: F821  (names resolve in vLLM's module, see above)
from __future__ import annotations


class SamplingParams:
    def verify(
        self,
        model_config: ModelConfig,
        speculative_config: SpeculativeConfig | None,
        structured_outputs_config: StructuredOutputsConfig | None,
        tokenizer: TokenizerLike | None,
    ) -> None:
        # vllm-patches (vllm#54196): bound the client's token ids first, then
        # vLLM's own checks as they were.
        self._vllm_patches_check_token_ids_in_vocab(model_config)
        return self._vllm_patches_orig_verify(
            model_config,
            speculative_config,
            structured_outputs_config,
            tokenizer,
        )

    def _vllm_patches_check_token_ids_in_vocab(self, model_config) -> None:
        # vllm-patches (vllm#54196): stop_token_ids and allowed_token_ids become
        # column indices into the logits tensor, whose width is the model's
        # vocabulary (model_config.get_vocab_size()), not the tokenizer's. An id
        # outside [0, vocab) crashes a bounds-checked backend, writes into
        # another request's row on one without checks, or is silently ignored.
        # An empty allowed_token_ids is left to vLLM's own message.
        vocab_size = model_config.get_vocab_size()
        for field_name in ("stop_token_ids", "allowed_token_ids"):
            token_ids = getattr(self, field_name)
            if not token_ids:
                continue
            outside = [t for t in token_ids if t < 0 or t >= vocab_size]
            if outside:
                raise VLLMValidationError(
                    f"{field_name} contains token id(s) {outside} outside the "
                    f"model's vocabulary (size {vocab_size})",
                    parameter=field_name,
                    value=outside,
                )
