"""vllm-patches fix for vllm-project/vllm#51796: no NUL byte in a regex reaches xgrammar.

xgrammar's native regex converter does not handle a NUL byte: a request whose
``structured_outputs.regex`` holds one crashes the process (segfault) when
vLLM's request validation hands the pattern to ``xgr.Grammar.from_regex``. The
two wrappers below reject such a regex with a ValueError (HTTP 400), with the
message vLLM 0.28.0 uses, before any xgrammar call:

- ``SamplingParams.verify``, the front end's validation of every request, checks
  before vLLM's own validation runs, so the request is refused in every backend
  mode, "auto" included (where a ValueError from the xgrammar validation would
  only make vLLM fall back to guidance);
- ``validate_xgrammar_grammar`` checks before it calls xgrammar, for any caller.

Runtime mode binds these functions to the globals of their vLLM module (and
rebinds the copies of ``validate_xgrammar_grammar`` that other modules
imported); source mode writes their text into the module. vLLM's own ones stay
as ``_vllm_patches_orig_<name>``.
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
        # vllm-patches (vllm#51796): vLLM validates structured outputs only
        # with a structured-outputs config; then a NUL in the regex is refused
        # before any backend (and its fallback) sees the pattern.
        so_params = self.structured_outputs
        if (
            structured_outputs_config is not None
            and so_params is not None
            and isinstance(so_params.regex, str)
            and "\x00" in so_params.regex
        ):
            raise VLLMValidationError(
                "structured_outputs.regex must not contain a NUL character ('\\x00')"
            )
        return self._vllm_patches_orig_verify(
            model_config,
            speculative_config,
            structured_outputs_config,
            tokenizer,
        )


def validate_xgrammar_grammar(sampling_params: SamplingParams) -> None:
    # vllm-patches (vllm#51796): xgrammar's regex converter must never see a NUL.
    so_params = sampling_params.structured_outputs
    if (
        so_params is not None
        and isinstance(so_params.regex, str)
        and "\x00" in so_params.regex
    ):
        raise ValueError(
            "structured_outputs.regex must not contain a NUL character ('\\x00')"
        )
    return _vllm_patches_orig_validate_xgrammar_grammar(sampling_params)
