"""Behaviour check of structured-outputs-reject-degenerate: vLLM's own request validation.

``SamplingParams.verify``, which the front end runs on every request (and which
runs ``_validate_structured_outputs``), gets ``StructuredOutputsParams`` with
``json_object=False``, ``json=""`` and ``json="  "`` under the server's default
structured-outputs config (backend "auto"). Unfixed, validation accepts them and
the engine fails later, when it builds the grammar: for ``json_object=False``
the check shows that failure with vLLM's own ``get_structured_output_key``, the
function EngineCore calls on the request. Fixed, validation raises ValueError.
A valid ``json_object=True`` must still pass, patched or not.

These values never reach a grammar library in validation (no schema, regex or
grammar to parse), so the check needs none. Importing vLLM's structured-output
modules does import the grammar libraries (llguidance, xgrammar,
lm-format-enforcer, outlines-core) and, up to 0.19.1, diskcache: where one is
not installed, an inert stand-in (any use of it raises) takes its place. The
tokenizer is only tested for None on this path and the model config is read for
a few plain fields, so a plain object and a namespace stand for them (real ones
need a download).
"""

DEVICE = "cpu"


def _stand_in_for_absent_libraries() -> list[str]:
    """An inert module in place of each structured-output library (and diskcache) not
    installed here: vLLM's module bodies import and name them; using one raises. The ones
    stood in for."""
    from vllm_patches.verify.stand_ins import stand_in_for_missing

    return stand_in_for_missing(usable=False)


def _model_config():
    import types

    return types.SimpleNamespace(max_logprobs=20, logits_processors=None,
                                 is_diffusion=False, get_vocab_size=lambda: 32000)


def run() -> dict:
    _stand_in_for_absent_libraries()

    from vllm.config import StructuredOutputsConfig
    from vllm.exceptions import (
        VLLMValidationError,  # a ValueError up to 0.26, not since
    )
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams

    def validate(so: StructuredOutputsParams) -> str:
        params = SamplingParams(max_tokens=8, structured_outputs=so)
        try:
            params.verify(_model_config(), None, StructuredOutputsConfig(), object())
        except (ValueError, VLLMValidationError) as exc:
            return f"rejected ({type(exc).__name__}): {exc}"
        return f"accepted (backend {params.structured_outputs._backend!r})"

    degenerate = {
        "json_object=False": {"json_object": False},
        "json=''": {"json": ""},
        "json='  '": {"json": "  "},
    }
    got = {name: validate(StructuredOutputsParams(**kw)) for name, kw in degenerate.items()}
    valid = validate(StructuredOutputsParams(json_object=True))

    # What EngineCore does with a json_object=False request that passed validation.
    from vllm.v1.structured_output.request import get_structured_output_key

    try:
        key = get_structured_output_key(StructuredOutputsParams(json_object=False))
        engine = f"gives the key {key!r}"
    except ValueError as exc:
        engine = f"raises ValueError: {exc}"

    accepted = [name for name, text in got.items() if not text.startswith("rejected")]
    bug = bool(accepted) or not valid.startswith("accepted")
    lines = "; ".join(f"{name} {text}" for name, text in got.items())
    return {"bug": bug,
            "detail": f"{lines}; json_object=True {valid}; on a json_object=False request "
                      f"EngineCore's get_structured_output_key {engine}"}
