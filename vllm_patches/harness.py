"""A small ``Gemma4MTP`` built from vLLM's real classes, with emulated TP.

vLLM's ``Gemma4MTP.__init__`` needs a full ``VllmConfig``. The fix only
touches ``lm_head``, ``masked_embedding`` and the two tensor-parallel helpers
of the module, so the shell is made with ``__new__`` plus
``nn.Module.__init__``: a small ``lm_head`` holding this rank's vocabulary
shard (sharded as ``ParallelLMHead`` shards it, vocabulary padded to 64) and
the real ``Gemma4MTPMaskedEmbedder``. ``EmulatedTP`` replaces the module's
TP helpers so that one process plays rank 0 of a TP group: the all-gather
concatenates the shards into a new tensor, as NCCL's would.

Used by the tests (on CPU) and by ``vllm-patches verify`` (on CUDA). Imports
torch; import it only where a model runs.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, field

import torch
from torch import nn

MTP_MODULE = "vllm.model_executor.models.gemma4_mtp"
VOCAB_PADDING = 64  # vLLM's DEFAULT_VOCAB_PADDING_SIZE


def padded_vocab(vocab: int, tp: int) -> int:
    step = VOCAB_PADDING * tp
    return (vocab + step - 1) // step * step


@dataclass
class EmulatedTP:
    """Rank 0 of a TP group of ``size``, in one process: the other ranks' shards live here."""

    size: int
    other_shards: list[torch.Tensor] = field(default_factory=list)
    gathers: int = 0
    _saved: dict[str, object] = field(default_factory=dict)

    def world_size(self) -> int:
        return self.size

    def all_gather(self, tensor: torch.Tensor, dim: int = -1) -> torch.Tensor:
        self.gathers += 1
        return torch.cat([tensor, *self.other_shards], dim=dim)

    def install(self, module: types.ModuleType) -> None:
        """Replace the module's two TP helpers (what the fix looks up at call time)."""
        for name, value in (
            ("get_tensor_model_parallel_world_size", self.world_size),
            ("tensor_model_parallel_all_gather", self.all_gather),
        ):
            self._saved.setdefault(name, getattr(module, name))
            setattr(module, name, value)

    def uninstall(self, module: types.ModuleType) -> None:
        for name, value in self._saved.items():
            setattr(module, name, value)
        self._saved.clear()


@dataclass
class Shell:
    model: nn.Module
    tp: EmulatedTP
    full_weight: torch.Tensor  # the whole (padded) vocabulary x hidden weight
    vocab: int

    @property
    def expected_full(self) -> torch.Tensor:
        return self.full_weight[: self.vocab]

    def reload(self, full_weight: torch.Tensor) -> None:
        """New weights, as a weight sync does, then vLLM's ``load_weights``.

        Rank 0's shard is written into its parameter in place (as vLLM's
        weight loaders do); every other shard gets storage of its own.
        """
        shards = list(full_weight.chunk(self.tp.size, dim=0))
        with torch.no_grad():
            self.model.lm_head.weight.copy_(shards[0])
        self.tp.other_shards = [s.clone() for s in shards[1:]]
        self.full_weight = full_weight
        self.model.load_weights([])


def build_shell(
    module: types.ModuleType,
    *,
    vocab: int = 4096,
    hidden: int = 32,
    num_centroids: int = 64,
    top_k: int = 8,
    tp: int = 2,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> Shell:
    """A ``Gemma4MTP`` of the given sizes from ``module``'s real classes."""
    gen = torch.Generator().manual_seed(seed)
    padded = padded_vocab(vocab, tp)
    full = torch.randn(padded, hidden, generator=gen).to(device=device, dtype=dtype)
    full[vocab:] = 0
    shards = list(full.chunk(tp, dim=0))

    cls = module.Gemma4MTP
    model = cls.__new__(cls)
    nn.Module.__init__(model)
    model.config = types.SimpleNamespace()
    model.lm_head = nn.Module()
    model.lm_head.weight = nn.Parameter(shards[0].clone(), requires_grad=False)
    embedder = module.Gemma4MTPMaskedEmbedder(
        hidden_size=hidden,
        vocab_size=vocab,
        num_centroids=num_centroids,
        centroid_intermediate_top_k=top_k,
    )
    with torch.no_grad():
        embedder.centroids.weight.copy_(torch.randn(num_centroids, hidden, generator=gen))
        embedder.token_ordering.copy_(torch.randperm(vocab, generator=gen))
    model.masked_embedding = embedder.to(device=device, dtype=dtype)
    model.masked_embedding.token_ordering = model.masked_embedding.token_ordering.long()
    _init_attributes_of(cls, model)

    emulated = EmulatedTP(tp, [s.clone() for s in shards[1:]])
    emulated.install(module)
    return Shell(model, emulated, full, vocab)


def _init_attributes_of(cls: type, model: nn.Module) -> None:
    """Set the plain attributes that this release's ``__init__`` would set.

    (``__init__`` itself is wrapped by ``@support_torch_compile``, so the
    class's own source text is read.)
    """
    try:
        init_source = inspect.getsource(cls)
    except (OSError, TypeError):
        return
    for name in ("_stable_full_lm_head_weight", "_suppress_token_ids"):
        if f"self.{name}" in init_source:
            setattr(model, name, None)


def import_mtp_module(cpu_platform: bool = False) -> types.ModuleType:
    """Import vLLM's ``gemma4_mtp``; with ``cpu_platform``, as on a GPU box without vLLM's _C.

    vLLM's CUDA platform imports its compiled extensions; a Python-only tree
    taken from the wheel lacks them, so the verification sets vLLM's
    ``CpuPlatform`` before importing the model modules. The code under test
    still runs on CUDA tensors.
    """
    import importlib

    if cpu_platform:
        import vllm.platforms as platforms
        from vllm.platforms.cpu import CpuPlatform

        platforms._current_platform = CpuPlatform()
    return importlib.import_module(MTP_MODULE)
