"""vllm-patches fix for vllm-project/vllm#51795: a negative prompt token id is out of vocabulary.

The method below joins vLLM's ``InputProcessor`` class and wraps vLLM's own
``_validate_model_input``, which stays in the class as
``_vllm_patches_orig__validate_model_input`` and runs first, unchanged (prompt
length, multimodal item sizes, the upper bound of the token ids). Then the
lower bound, which vLLM never checked: a negative id. Runtime mode binds this
function to the globals of ``vllm.v1.engine.input_processor``; source mode
writes its text into that module.
"""

# ruff: noqa: F821  (names resolve in vLLM's module, see above)
from __future__ import annotations


class InputProcessor:
    def _validate_model_input(self, prompt_input, prompt_type):
        self._vllm_patches_orig__validate_model_input(prompt_input, prompt_type)
        # vllm-patches (vllm#51795): reject negative token ids too. They pass the
        # upper-bound check above and would later index the embedding table (and
        # every other per-token table) from its end, or trip a device assert.
        # Same condition as upstream's: token prompts (not embeddings), and only
        # where vLLM checks the upper bound, that is when there is a tokenizer.
        if prompt_input["type"] == "embeds" or self.tokenizer is None:
            return
        prompt_ids = prompt_input.get("prompt_token_ids")
        if not prompt_ids:
            return
        lowest = min(prompt_ids)
        if lowest < 0:
            # vLLM's request-validation error: HTTP 400 from the server (a
            # ValueError in releases before 0.27, as vLLM's own checks were).
            from vllm.exceptions import VLLMValidationError

            raise VLLMValidationError(f"Token id {lowest} is out of vocabulary")
