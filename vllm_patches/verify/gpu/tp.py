"""Tensor parallelism for a GPU check: emulated on one GPU, or one real rank of a group.

NCCL refuses two ranks on one GPU, so with fewer GPUs than ranks one process plays
rank 0 of the group: ``EmulatedTP.install(module)`` replaces the two TP helpers that a
vLLM module looks up at call time (``get_tensor_model_parallel_world_size`` and
``tensor_model_parallel_all_gather``), and the all-gather concatenates the shards into
a new tensor, as NCCL's would. ``RankTP`` is a real rank (``ranks``): vLLM's own
helpers gather over the process group.

``padded_vocab`` and ``Sharded`` shard a vocabulary-sized weight as vLLM's
``ParallelLMHead`` does (rows padded to 64 per rank). Imports torch only when a
function runs.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

VOCAB_PADDING = 64  # vLLM's DEFAULT_VOCAB_PADDING_SIZE
TP_HELPERS = ("get_tensor_model_parallel_world_size", "tensor_model_parallel_all_gather")


def padded_vocab(vocab: int, tp: int) -> int:
    step = VOCAB_PADDING * tp
    return (vocab + step - 1) // step * step


@dataclass
class EmulatedTP:
    """Rank 0 of a TP group of ``size``, in one process: the other ranks' shards live here."""

    size: int
    other_shards: list = field(default_factory=list)
    gathers: int = 0
    _saved: dict[str, object] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return 0

    def world_size(self) -> int:
        return self.size

    def all_gather(self, tensor, dim: int = -1):
        import torch

        self.gathers += 1
        return torch.cat([tensor, *self.other_shards], dim=dim)

    def install(self, module: types.ModuleType) -> None:
        """Replace the module's two TP helpers (what vLLM's code looks up at call time)."""
        for name, value in zip(TP_HELPERS, (self.world_size, self.all_gather)):
            self._saved.setdefault(name, getattr(module, name))
            setattr(module, name, value)

    def uninstall(self, module: types.ModuleType) -> None:
        for name, value in self._saved.items():
            setattr(module, name, value)
        self._saved.clear()


@dataclass
class RankTP:
    """This process is rank ``rank`` of a real TP group: vLLM's own helpers gather."""

    size: int
    rank: int


@dataclass
class Sharded:
    """A whole weight and its TP shards, each shard with storage of its own."""

    full_weight: object
    shards: list

    @classmethod
    def of(cls, full_weight, tp: int) -> Sharded:
        return cls(full_weight, [s.clone() for s in full_weight.chunk(tp, dim=0)])


def random_weight(rows: int, hidden: int, vocab: int, seed_or_gen, dtype, device):
    """Random rows for the vocabulary, zeros for its padding (drawn on the CPU, so that
    every device and every rank gets the same values)."""
    import torch

    gen = seed_or_gen
    if not isinstance(gen, torch.Generator):
        gen = torch.Generator().manual_seed(seed_or_gen)
    full = torch.randn(rows, hidden, generator=gen).to(device=device, dtype=dtype)
    full[vocab:] = 0
    return full
