"""vllm-patches fix for vllm-project/vllm#51796: no NUL byte in a regex reaches xgrammar.

xgrammar's native regex converter does not handle a NUL byte: a request whose
``structured_outputs.regex`` holds one crashes the process (segfault) when
vLLM's request validation hands the pattern to ``xgr.Grammar.from_regex``. The
two wrappers below reject such a regex, with the message vLLM 0.28.0 uses, in
the two functions where upstream's fix rejects it:

- ``SamplingParams._validate_structured_outputs`` (run by ``verify`` for every
  request) raises VLLMValidationError (HTTP 400) before backend selection, so
  the request is refused in every backend mode, "auto" included (where a
  ValueError from the xgrammar validation would only make vLLM fall back to
  guidance);
- ``validate_xgrammar_grammar`` raises ValueError before it calls xgrammar, for
  any caller (defence in depth, as upstream).

The first composes with structured-outputs-reject-degenerate's wrapper of the
same method (``after`` in patch.toml): this one goes around it. Runtime mode
binds these functions to the globals of their vLLM module (and rebinds the
copies of ``validate_xgrammar_grammar`` that other modules imported); source
mode writes their text into the module. vLLM's own ones stay as
``_vllm_patches_orig_<name>``.
"""

# ruff: noqa: F821  (names resolve in vLLM's module, see above)
from __future__ import annotations


class SamplingParams:
    def _validate_structured_outputs(self, *args, **kwargs) -> None:
        # vllm-patches (vllm#51796). vLLM's parameters are (structured_outputs_config,
        # tokenizer) up to 0.23 and (model_config, structured_outputs_config,
        # tokenizer) from 0.24, none with a default: the config is the one before
        # last. It is read from the arguments, not from the signature of the
        # function called below, which in a chain is another fix's (*args, **kwargs).
        given = len(args) + len(kwargs)
        config = kwargs.get(
            "structured_outputs_config",
            args[given - 2] if 0 <= given - 2 < len(args) else None,
        )
        # As upstream: nothing is validated without a config or structured outputs.
        so_params = self.structured_outputs
        if (
            config is not None
            and so_params is not None
            and so_params.regex
            and "\x00" in so_params.regex
        ):
            # VLLMValidationError: what vLLM's validation raises from 0.27 on (a
            # VLLMClientError, HTTP 400); up to 0.26 it is a ValueError, as vLLM's
            # own structured-outputs checks there were.
            raise VLLMValidationError(
                "structured_outputs.regex must not contain a NUL character ('\\x00')"
            )
        return self._vllm_patches_orig__validate_structured_outputs(*args, **kwargs)


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
