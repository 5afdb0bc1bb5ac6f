"""Behaviour check of stop-token-ids-in-vocab: vLLM's own ``SamplingParams.verify``.

Over the kit's tiny Llama (its vocabulary 2 smaller than its tokenizer's), ids outside
``[0, model vocab)`` in ``stop_token_ids`` or ``allowed_token_ids`` must be rejected (they
become logits column indices); in-vocabulary ones still accepted."""

from vllm_patches.verify import kit

DEVICE = "cpu"


def run() -> kit.Finding:
    from vllm.sampling_params import SamplingParams
    from vllm.tokenizers import cached_tokenizer_from_config

    with kit.tiny_model(vocab_smaller_by=2) as model:
        config, vocab = kit.model_config(model), model.vocab_size
        tokenizer = cached_tokenizer_from_config(config)
        assert config.get_vocab_size() == vocab and len(tokenizer) == model.tokenizer_size

        def verify(**kwargs) -> kit.Accepted | kit.Rejected:
            params = SamplingParams(max_tokens=4, **kwargs)
            return kit.attempt(params.verify, config, None, None, tokenizer)

        wrong = {f"stop_token_ids=[{bad}]": verify(stop_token_ids=[bad])
                 for bad in (vocab, 10**6, 10**30, -1)}
        wrong[f"allowed_token_ids=[0, {vocab}]"] = verify(allowed_token_ids=[0, vocab])
        right = {f"stop_token_ids=[2, {vocab - 1}]": verify(stop_token_ids=[2, vocab - 1]),
                 f"allowed_token_ids=[0, {vocab - 1}]": verify(allowed_token_ids=[0, vocab - 1])}
    bug = any(o.accepted for o in wrong.values()) or not all(o.accepted for o in right.values())
    return kit.Finding(bug, f"model vocab {vocab}, tokenizer {model.tokenizer_size}: "
                       + "; ".join(f"{k} {o}" for k, o in {**wrong, **right}.items()))


def request(post) -> kit.Finding:
    """Through a running OpenAI server: unpatched, a stop id past the vocabulary is served
    (ignored) or a 500; fixed, a 400 naming stop_token_ids; an in-vocabulary one served."""
    answers = {stop: kit.answered(*post("/v1/completions", {
        "model": "tiny", "prompt": "hello world", "max_tokens": 4, "stop_token_ids": [stop]}))
        for stop in (10**6, 10**30, 2)}
    kept = answers.pop(2)[0] == 200
    refused = all(status == 400 and "stop_token_ids" in said for status, said in answers.values())
    return kit.Finding(not (refused and kept), "; ".join(
        f"stop_token_ids=[{k:.0e}] -> HTTP {s} {m[:120]!r}" for k, (s, m) in answers.items())
        + ("" if kept else "; an in-vocabulary stop id was not served"))
