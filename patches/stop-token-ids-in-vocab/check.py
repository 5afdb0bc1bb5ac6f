"""Behaviour check of stop-token-ids-in-vocab: vLLM's own ``SamplingParams.verify``.

``verify`` is what ``InputProcessor`` runs on every request's sampling
parameters before the request reaches the engine; the server answers a
``ValueError`` / ``VLLMValidationError`` from it with HTTP 400. Here it gets a
real ``ModelConfig`` over a tiny Llama written to a temporary folder (a
``config.json`` and a word-level tokenizer made with the ``tokenizers``
library; no weights, no download) and vLLM's own tokenizer loaded from it. The
model's vocabulary is 2 smaller than the tokenizer's, as in multimodal models
whose tokenizer has placeholder tokens the language model does not (the logits
are as wide as the model's vocabulary).

The bug: ``stop_token_ids`` outside ``[0, model vocab)`` (the first id past the
model's vocabulary, 10**6, 10**30, -1) and ``allowed_token_ids`` past the
model's vocabulary but inside the tokenizer's are accepted; all of them become
logits column indices in the engine. In-vocabulary ids must still be accepted.
"""

DEVICE = "cpu"


def _tiny_llama(folder, smaller_by: int) -> tuple[int, int]:
    """A Llama config (vocabulary ``smaller_by`` less than its tokenizer's) and the
    tokenizer in ``folder``; returns (tokenizer size, model vocabulary)."""
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
    size = tok.get_vocab_size()
    vocab = size - smaller_by
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 128, "torch_dtype": "float32",
        "bos_token_id": 1, "eos_token_id": 2}))
    return size, vocab


def run() -> dict:
    import os
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from vllm.config import ModelConfig
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.tokenizers import cached_tokenizer_from_config

    with tempfile.TemporaryDirectory() as folder:
        size, vocab = _tiny_llama(folder, smaller_by=2)
        model_config = ModelConfig(model=folder, tokenizer=folder, dtype="float32",
                                   max_model_len=64)
        tokenizer = cached_tokenizer_from_config(model_config)
        assert model_config.get_vocab_size() == vocab and len(tokenizer) == size

        def accepted(**kwargs) -> bool:
            params = SamplingParams(max_tokens=4, **kwargs)
            try:
                params.verify(model_config, None, None, tokenizer)
            except (ValueError, VLLMValidationError) as exc:
                outcomes.append(f"{kwargs} rejected ({type(exc).__name__}: {exc})")
                return False
            outcomes.append(f"{kwargs} accepted")
            return True

        outcomes: list[str] = []
        wrongly_accepted = [accepted(stop_token_ids=[bad]) for bad in (vocab, 10**6, 10**30, -1)]
        wrongly_accepted.append(accepted(allowed_token_ids=[0, vocab]))
        rightly_accepted = [accepted(stop_token_ids=[2, vocab - 1]),
                            accepted(allowed_token_ids=[0, vocab - 1])]

    bug = any(wrongly_accepted) or not all(rightly_accepted)
    return {"bug": bug,
            "detail": f"model vocab {vocab}, tokenizer {size}: " + "; ".join(outcomes)}


def request(post) -> dict:
    """The same bug through a running OpenAI server (the tiny model, served as ``tiny``):
    ``post(path, body) -> (HTTP status, JSON body)``. Unpatched, ``stop_token_ids`` past
    the vocabulary is accepted (200, the id silently ignored) or fails inside the engine
    (a 500 with an empty message); fixed, each is a 400 that names stop_token_ids. An
    in-vocabulary stop id must still be served."""
    answers = {}
    for stop in (10**6, 10**30):
        status, body = post("/v1/completions", {"model": "tiny", "prompt": "hello world",
                                                "max_tokens": 4, "stop_token_ids": [stop]})
        answers[stop] = (status, str(body.get("error", {}).get("message", "")) if status != 200
                         else "ok")
    ok_status, _ = post("/v1/completions", {"model": "tiny", "prompt": "hello world",
                                            "max_tokens": 4, "stop_token_ids": [2]})
    rejected = all(status == 400 and "stop_token_ids" in message
                   for status, message in answers.values())
    if ok_status != 200:
        return {"bug": True, "detail": f"an in-vocabulary stop id got HTTP {ok_status}"}
    return {"bug": not rejected,
            "detail": "; ".join(f"stop_token_ids=[{k:.0e}] -> HTTP {s} {m[:120]!r}"
                                for k, (s, m) in answers.items())}
