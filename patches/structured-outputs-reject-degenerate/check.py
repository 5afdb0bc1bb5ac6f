"""Behaviour check of structured-outputs-reject-degenerate: ``SamplingParams.verify``.

``verify`` (which runs ``_validate_structured_outputs``) gets ``json_object=False``,
``json=""`` and ``json="  "`` under the default structured-outputs config (backend "auto").
Unfixed, it accepts them and the engine fails later: for ``json_object=False``, vLLM's own
``get_structured_output_key`` (what EngineCore calls on the request) shows it. Fixed, each
is a ValueError. A valid ``json_object=True`` must still pass.
"""

from vllm_patches.verify import kit

DEVICE = "cpu"


def run() -> kit.Finding:
    kit.stand_in_for_missing(usable=False)  # imported at load; no grammar is ever built
    from vllm.config import StructuredOutputsConfig
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams
    from vllm.v1.structured_output.request import get_structured_output_key

    def verify(**so) -> kit.Accepted | kit.Rejected:
        params = SamplingParams(max_tokens=8, structured_outputs=StructuredOutputsParams(**so))
        return kit.attempt(params.verify, kit.model_config_stand_in(), None,
                           StructuredOutputsConfig(), object())

    said = {f"{k}={v!r}": verify(**{k: v})
            for k, v in (("json_object", False), ("json", ""), ("json", "  "))}
    valid = verify(json_object=True)
    engine = kit.attempt(get_structured_output_key, StructuredOutputsParams(json_object=False))
    return kit.Finding(any(o.accepted for o in said.values()) or not valid.accepted,
                       "; ".join(f"{k} {o}" for k, o in said.items())
                       + f"; json_object=True {valid}; on a json_object=False request "
                       f"EngineCore's get_structured_output_key {engine}")
