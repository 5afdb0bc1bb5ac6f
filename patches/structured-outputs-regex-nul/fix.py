"""vllm-patches fix for vllm-project/vllm#51796: no NUL byte in a regex reaches xgrammar.

xgrammar's native regex converter does not handle a NUL byte: a request whose
``structured_outputs.regex`` holds one crashes the process (segfault) when
vLLM's request validation hands the pattern to ``xgr.Grammar.from_regex``. The
two wrappers below reject such a regex, with the message vLLM 0.28.0 uses,
before any xgrammar call:

- ``InputProcessor._validate_params``, the front end's validation of every
  request's sampling parameters (it runs ``SamplingParams.verify``, hence the
  structured-outputs validation that picks the backend), raises
  VLLMValidationError (HTTP 400) before vLLM's own validation runs, so the
  request is refused in every backend mode, "auto" included (where a
  ValueError from the xgrammar validation would only make vLLM fall back to
  guidance);
- ``validate_xgrammar_grammar`` raises ValueError before it calls xgrammar, for
  any caller.

Runtime mode binds these functions to the globals of their vLLM module (and
rebinds the copies of ``validate_xgrammar_grammar`` that other modules
imported); source mode writes their text into the module. vLLM's own ones stay
as ``_vllm_patches_orig_<name>``.
"""

# ruff: noqa: F821  (names resolve in vLLM's module, see above)
from __future__ import annotations


class InputProcessor:
    def _validate_params(
        self,
        params: SamplingParams | PoolingParams,
        supported_tasks: tuple[SupportedTask, ...],
    ) -> None:
        # vllm-patches (vllm#51796): the structured outputs of a generation
        # request are validated (by SamplingParams.verify) only under a
        # structured-outputs config; then a NUL in the regex is refused before
        # any backend (and the "auto" fallback) sees the pattern. A request to
        # a model without generation is left to vLLM's own first check.
        so_params = (
            params.structured_outputs if isinstance(params, SamplingParams) else None
        )
        if (
            so_params is not None
            and self.structured_outputs_config is not None
            and isinstance(so_params.regex, str)
            and "\x00" in so_params.regex
            and any(task in GENERATION_TASKS for task in supported_tasks)
        ):
            # vLLM's request-validation error: HTTP 400 from the server (a
            # ValueError before 0.27, as vLLM's own checks were).
            from vllm.exceptions import VLLMValidationError

            raise VLLMValidationError(
                "structured_outputs.regex must not contain a NUL character ('\\x00')"
            )
        return self._vllm_patches_orig__validate_params(params, supported_tasks)


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
