"""vllm-patches fix for vllm-project/vllm#45346: reject degenerate structured outputs.

``json_object=False`` or an empty (blank) ``json`` schema string counts as a
structured-outputs constraint for ``StructuredOutputsParams`` (it is not None),
passes request validation, and only fails inside EngineCore when the grammar
is built there, which takes the engine down for every user. The wrapper below
rejects both with a ValueError at request validation (HTTP 400), with the
messages vLLM 0.25.0 uses, and then runs vLLM's own validation unchanged.

The method joins vLLM's ``SamplingParams``; vLLM's own one stays as
``_vllm_patches_orig__validate_structured_outputs``. Runtime mode binds it to
the globals of ``vllm.sampling_params``; source mode writes its text there.
"""

from __future__ import annotations


class SamplingParams:
    def _validate_structured_outputs(self, *args, **kwargs) -> None:
        # vllm-patches (vllm#45346). vLLM's signature differs between releases
        # ((config, tokenizer) up to 0.23, (model_config, config, tokenizer) in
        # 0.24), so the arguments go on to vLLM's method as they came.
        params = self.structured_outputs
        if params is not None:
            import inspect

            bound = inspect.signature(
                self._vllm_patches_orig__validate_structured_outputs
            ).bind(*args, **kwargs)
            # vLLM validates nothing without a structured-outputs config: nor do we.
            if bound.arguments.get("structured_outputs_config") is not None:
                if isinstance(params.json, str) and params.json.strip() == "":
                    raise ValueError("structured_outputs.json cannot be an empty string")
                if params.json_object is False:
                    raise ValueError(
                        "structured_outputs.json_object must be True if set; omit "
                        "structured_outputs to disable structured outputs"
                    )
        return self._vllm_patches_orig__validate_structured_outputs(*args, **kwargs)
