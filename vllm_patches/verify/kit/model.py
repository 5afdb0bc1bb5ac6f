"""A tiny Llama that vLLM can serve on a CPU, written from nothing (no download).

``python -m tests.tiny_model DIR`` (or ``python tests/tiny_model.py DIR``) writes into
DIR a word-level tokenizer trained here with the ``tokenizers`` library, a Llama
``config.json`` whose vocabulary matches it (hidden 128, 4 heads of 32: vLLM's CPU
attention needs a head size of 32 or more, 2 layers) and random weights in
``model.safetensors``, a few MB in all. The weights are seeded: the same DIR twice.

Needs torch, safetensors and tokenizers (all of them come with vLLM).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HIDDEN = 128
HEADS = 4
LAYERS = 2
INTERMEDIATE = 256
MAX_POSITIONS = 512
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]

# Enough words for a few hundred tokens; the tokenizer learns them all.
_WORDS = (
    "the a an one two three four five six seven eight nine ten cat dog bird fish tree "
    "house car road river sea sky sun moon star cloud rain snow wind fire water stone "
    "red green blue black white small big old new fast slow hot cold good bad happy sad "
    "run walk swim fly jump sit stand eat drink sleep read write sing play work rest "
    "and or but if then so because when where who what why how is are was were be "
    "have has had do does did will would can could may might must shall should "
    "I you he she it we they me him her us them my your his its our their this that "
    "in on at by for with from to of up down over under near far here there now today "
    "hello world test token model engine patch vllm serve request answer question story"
).split()


def corpus() -> list[str]:
    """Sentences over the word list, each word in several contexts."""
    lines = []
    n = len(_WORDS)
    for i in range(n):
        lines.append(" ".join(_WORDS[(i + k * 7) % n] for k in range(12)))
        lines.append(" ".join(_WORDS[(i * 3 + k) % n] for k in range(9)) + " .")
    return lines


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=1)
    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def write(dest: Path | str, *, seed: int = 0) -> Path:
    """Write the model and tokenizer into ``dest``; returns it."""
    import torch
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(dest / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    (dest / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
        "model_max_length": MAX_POSITIONS, "clean_up_tokenization_spaces": False,
    }, indent=1) + "\n")
    (dest / "special_tokens_map.json").write_text(json.dumps({
        "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
    }, indent=1) + "\n")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "head_dim": HIDDEN // HEADS,
        "max_position_embeddings": MAX_POSITIONS, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"],
        "torch_dtype": "float32",
    }
    (dest / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (dest / "generation_config.json").write_text(json.dumps({
        "bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"],
    }, indent=1) + "\n")

    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (torch.randn(*shape, generator=gen) * 0.02).contiguous()

    weights = {"model.embed_tokens.weight": rand(vocab, HIDDEN),
               "model.norm.weight": torch.ones(HIDDEN),
               "lm_head.weight": rand(vocab, HIDDEN)}
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            weights[p + f"self_attn.{name}.weight"] = rand(HIDDEN, HIDDEN)
        weights[p + "mlp.gate_proj.weight"] = rand(INTERMEDIATE, HIDDEN)
        weights[p + "mlp.up_proj.weight"] = rand(INTERMEDIATE, HIDDEN)
        weights[p + "mlp.down_proj.weight"] = rand(HIDDEN, INTERMEDIATE)
        weights[p + "input_layernorm.weight"] = torch.ones(HIDDEN)
        weights[p + "post_attention_layernorm.weight"] = torch.ones(HIDDEN)
    save_file(weights, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.tiny_model DIR", file=sys.stderr)
        return 2
    dest = write(argv[0])
    vocab = json.loads((dest / "config.json").read_text())["vocab_size"]
    print(f"tiny Llama (vocab {vocab}, hidden {HIDDEN}, {HEADS} heads, {LAYERS} layers) in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
