"""A tiny Llama written from nothing (no download): the one model folder checks, tests and
benchmarks use.

``write_tiny_model(DIR)`` writes a word-level tokenizer trained here with the ``tokenizers``
library, a Llama ``config.json`` whose vocabulary matches it (hidden 128, 4 heads of 32:
vLLM's CPU attention needs a head size of 32 or more, 2 layers) and, with ``weights``,
seeded random weights in ``model.safetensors`` (a few MB; the same DIR twice), so vLLM
can serve it on a CPU. Without weights it is what ``ModelConfig`` and vLLM's tokenizer
read, in milliseconds. ``tiny_model()`` is the same in a temporary folder, for a check.

``python -m vllm_patches.verify.kit DIR`` writes the servable one (the end-to-end
tests run it with the engine's Python). Needs tokenizers, and torch and safetensors for
the weights (all of them come with vLLM); nothing of vLLM.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HIDDEN = 128
HEADS = 4
LAYERS = 2
INTERMEDIATE = 256
MAX_POSITIONS = 512
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
# The settings that keep transformers and huggingface_hub off the network: the model is
# local, and a check or test must never wait on (or depend on) the hub.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

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


@dataclass(frozen=True)
class TinyModel:
    """A written model folder: where, the model's vocabulary and its tokenizer's size (they
    differ by ``vocab_smaller_by``)."""

    path: Path
    vocab_size: int
    tokenizer_size: int

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def offline() -> None:
    """Keep Hugging Face libraries off the network in this process (a setting the caller
    made already wins)."""
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)


def corpus() -> list[str]:
    """Sentences over the word list, each word in several contexts."""
    lines = []
    n = len(_WORDS)
    for i in range(n):
        lines.append(" ".join(_WORDS[(i + k * 7) % n] for k in range(12)))
        lines.append(" ".join(_WORDS[(i * 3 + k) % n] for k in range(9)) + " .")
    return lines


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=1)
    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n")


def write_tiny_model(dest: Path | str, *, weights: bool = True, vocab_smaller_by: int = 0,
                     max_positions: int = MAX_POSITIONS, seed: int = 0) -> TinyModel:
    """Write the model into ``dest``. ``vocab_smaller_by``: the model's vocabulary that much
    smaller than its tokenizer's, as in multimodal models whose tokenizer has placeholder
    tokens the language model does not."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(dest / "tokenizer.json"))
    size = tok.get_vocab_size()
    vocab = size - vocab_smaller_by
    ids = {f"{name}_token_id": tok.token_to_id(f"<{tag}>")
           for name, tag in (("bos", "s"), ("eos", "/s"), ("pad", "pad"))}
    names = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
    _write_json(dest / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", **names,
        "model_max_length": max_positions, "clean_up_tokenization_spaces": False})
    _write_json(dest / "special_tokens_map.json", names)
    _write_json(dest / "config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "head_dim": HIDDEN // HEADS,
        "max_position_embeddings": max_positions, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        **ids, "torch_dtype": "float32"})
    _write_json(dest / "generation_config.json", ids)
    if weights:
        _write_weights(dest / "model.safetensors", vocab, seed)
    return TinyModel(dest, vocab, size)


def _write_weights(path: Path, vocab: int, seed: int) -> None:
    import torch
    from safetensors.torch import save_file

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
    save_file(weights, str(path), metadata={"format": "pt"})


@contextlib.contextmanager
def tiny_model(*, weights: bool = False, **options) -> Iterator[TinyModel]:
    """The tiny model in a temporary folder, removed after; this process offline (the
    folder is all a check reads). ``options``: those of ``write_tiny_model``."""
    offline()
    with tempfile.TemporaryDirectory(prefix="vllm-patches-tiny-") as folder:
        yield write_tiny_model(folder, weights=weights, **options)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vllm_patches.verify.kit DIR", file=sys.stderr)
        return 2
    model = write_tiny_model(argv[0])
    print(f"tiny Llama (vocab {model.vocab_size}, hidden {HIDDEN}, {HEADS} heads, "
          f"{LAYERS} layers) in {model.path}")
    return 0

