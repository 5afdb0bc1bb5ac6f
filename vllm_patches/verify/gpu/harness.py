"""A small ``Gemma4MTP`` built from vLLM's real classes, with emulated TP.

vLLM's ``Gemma4MTP.__init__`` needs a full ``VllmConfig``. The fix only
touches ``lm_head``, ``masked_embedding`` and the two tensor-parallel helpers
of the module, so the shell is made with ``__new__`` plus
``nn.Module.__init__``: a small ``lm_head`` holding this rank's vocabulary
shard (sharded as ``ParallelLMHead`` shards it, vocabulary padded to 64) and
the real ``Gemma4MTPMaskedEmbedder``. ``EmulatedTP`` replaces the module's
TP helpers so that one process plays rank 0 of a TP group: the all-gather
concatenates the shards into a new tensor, as NCCL's would. With
``emulate=False`` the shell is one real rank (``RankTP``) and vLLM's own
helpers gather over the process group.

``ProposerStandIn`` runs ``Gemma4Proposer``'s own centroid-graph methods
(capture and greedy sampling) on such a model.

``import_mtp_module`` and ``import_proposer_class`` import vLLM's modules as
the verification needs them on a GPU box without vLLM's requirements: a
stand-in ``xgrammar`` where none can be imported (0.28.0 and later take its
names at module load), and, on CUDA, torch.cuda's stream functions kept and a
side stream made current as vLLM does (0.29.0 and later capture the graphs on
``current_stream()``).

Used by the tests (on CPU) and by ``vllm-patches verify`` (on CUDA). Imports
torch; import it only where a model runs.
"""

from __future__ import annotations

import inspect
import types
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from vllm_patches.verify import messages

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

    @property
    def rank(self) -> int:
        return 0


@dataclass
class RankTP:
    """This process is rank ``rank`` of a real TP group: vLLM's own helpers gather."""

    size: int
    rank: int


@dataclass
class NewWeights:
    """A whole weight and its TP shards, each shard with storage of its own."""

    full_weight: torch.Tensor
    shards: list[torch.Tensor]


@dataclass
class Shell:
    model: nn.Module
    tp: EmulatedTP | RankTP
    full_weight: torch.Tensor  # the whole (padded) vocabulary x hidden weight
    vocab: int

    @property
    def expected_full(self) -> torch.Tensor:
        return self.full_weight[: self.vocab]

    def new_weights(self, seed: int) -> NewWeights:
        """Other weights of the same shape, allocated now.

        Made before graphs are captured, they cannot land on memory that a
        captured graph reads after it was freed (where they would make a
        stale graph read the right values by luck).
        """
        current = self.full_weight
        full = _random_weight(current.shape[0], current.shape[1], self.vocab, seed,
                              current.dtype, current.device)
        return NewWeights(full, [s.clone() for s in full.chunk(self.tp.size, dim=0)])

    def reload(self, full_weight: torch.Tensor | NewWeights) -> None:
        """New weights, as a weight sync does, then vLLM's ``load_weights``.

        This rank's shard is written into its parameter in place (as vLLM's
        weight loaders do); every other shard has storage of its own.
        """
        if isinstance(full_weight, NewWeights):
            new = full_weight
        else:
            new = NewWeights(full_weight,
                             [s.clone() for s in full_weight.chunk(self.tp.size, dim=0)])
        with torch.no_grad():
            self.model.lm_head.weight.copy_(new.shards[self.tp.rank])
        if isinstance(self.tp, EmulatedTP):
            self.tp.other_shards = list(new.shards[1:])
        self.full_weight = new.full_weight
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
    rank: int = 0,
    emulate: bool = True,
) -> Shell:
    """A ``Gemma4MTP`` of the given sizes from ``module``'s real classes.

    ``emulate``: this process plays rank 0 of ``tp`` (``EmulatedTP``);
    otherwise it is rank ``rank`` of an initialised TP group of ``tp``.
    Every rank draws the same weights from ``seed``.
    """
    if emulate and rank != 0:
        raise ValueError("an emulated TP group is played by rank 0")
    gen = torch.Generator().manual_seed(seed)
    padded = padded_vocab(vocab, tp)
    full = _random_weight(padded, hidden, vocab, gen, dtype, device)
    shards = list(full.chunk(tp, dim=0))

    cls = module.Gemma4MTP
    model = cls.__new__(cls)
    nn.Module.__init__(model)
    model.config = types.SimpleNamespace()
    model.lm_head = nn.Module()
    model.lm_head.weight = nn.Parameter(shards[rank].clone(), requires_grad=False)
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

    if not emulate:
        return Shell(model, RankTP(tp, rank), full, vocab)
    emulated = EmulatedTP(tp, [s.clone() for s in shards[1:]])
    emulated.install(module)
    return Shell(model, emulated, full, vocab)


def _random_weight(rows: int, hidden: int, vocab: int, seed_or_gen, dtype, device) -> torch.Tensor:
    """Random rows for the vocabulary, zeros for its padding (drawn on the CPU, so that
    every device and every rank gets the same values)."""
    gen = seed_or_gen
    if not isinstance(gen, torch.Generator):
        gen = torch.Generator().manual_seed(seed_or_gen)
    full = torch.randn(rows, hidden, generator=gen).to(device=device, dtype=dtype)
    full[vocab:] = 0
    return full


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


PROPOSER_MODULE = "vllm.v1.spec_decode.gemma4"
PROPOSER_METHODS = ("_setup_centroids_cuda_graphs", "_greedy_sample")


class ProposerStandIn:
    """What ``Gemma4Proposer``'s centroid CUDA graphs use, running vLLM's own methods.

    ``Gemma4Proposer.__init__`` needs a whole engine. Its methods
    ``_setup_centroids_cuda_graphs`` and ``_greedy_sample`` read only
    ``model``, ``dtype``, ``device`` and the four ``_centroids_*`` fields, so
    the real functions are bound to this object. (``_greedy_sample`` calls
    ``super()`` only while no graph is captured; it is used after capture.)
    """

    def __init__(self, proposer_cls: type, model: nn.Module, *, dtype: torch.dtype,
                 device: str | torch.device) -> None:
        self.model = model
        self.dtype = dtype
        self.device = torch.device(device)
        self._centroids_sizes: list[int] = []
        self._centroids_graphs: dict[int, object] = {}
        self._centroids_inputs: dict[int, torch.Tensor] = {}
        self._centroids_outputs: dict[int, torch.Tensor] = {}
        for name in PROPOSER_METHODS:
            func = proposer_cls.__dict__.get(name)
            if not isinstance(func, types.FunctionType):
                raise AttributeError(f"{proposer_cls.__qualname__} has no method {name}")
            setattr(self, name, types.MethodType(func, self))

    def graph_size_for(self, tokens: int) -> int | None:
        """The captured size that ``_greedy_sample`` replays for ``tokens`` (None: eager)."""
        return next((s for s in self._centroids_sizes if s >= tokens), None)


def import_proposer_class(cpu_platform: bool = False) -> type:
    """vLLM's ``Gemma4Proposer`` (see ``import_mtp_module`` for ``cpu_platform``)."""
    return _import(PROPOSER_MODULE, cpu_platform).Gemma4Proposer


def use_cpu_platform() -> None:
    """Make vLLM's current platform its ``CpuPlatform`` (before the model modules load)."""
    import vllm.platforms as platforms
    from vllm.platforms.cpu import CpuPlatform

    if not isinstance(platforms._current_platform, CpuPlatform):
        platforms._current_platform = CpuPlatform()


def import_mtp_module(cpu_platform: bool = False) -> types.ModuleType:
    """Import vLLM's ``gemma4_mtp``; with ``cpu_platform``, as on a GPU box without vLLM's _C.

    vLLM's CUDA platform imports its compiled extensions; a Python-only tree
    taken from the wheel lacks them, so the verification sets vLLM's
    ``CpuPlatform`` before importing the model modules. The code under test
    still runs on CUDA tensors (see ``keep_torch_cuda_streams``).
    """
    return _import(MTP_MODULE, cpu_platform)


def _import(name: str, cpu_platform: bool) -> types.ModuleType:
    import importlib

    stand_in_for_xgrammar()
    stand_in_for_compiled_extensions()
    with keep_torch_cuda_streams():
        if cpu_platform:
            use_cpu_platform()
        return importlib.import_module(name)


# Importing vLLM 0.28.0 and later where its requirements are not all installed -------
XGRAMMAR = "xgrammar"
# The submodules that vLLM's modules import from at module load (0.28.0-0.33.0).
XGRAMMAR_SUBMODULES = ("structural_tag", "openai_tool_call_schema")


class XgrammarStandIn:
    """Every name taken from the ``xgrammar`` stand-in: a class whose instances keep what
    they were made with and do nothing (vLLM 0.33.0 makes one at module load)."""

    def __init__(self, *args, **kwargs) -> None:
        self.args = args
        self.kwargs = kwargs

    def __class_getitem__(cls, item):
        return cls


class _StandInModule(types.ModuleType):
    """A module any of whose public names is an ``XgrammarStandIn`` subclass."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (XgrammarStandIn,), {"__module__": self.__name__})
        setattr(self, name, value)
        return value


def stand_in_for_xgrammar() -> bool:
    """Register a stand-in ``xgrammar`` where the real one cannot be imported; True if it
    is in place.

    Why: vLLM 0.28.0 and later import xgrammar, a compiled package that the GPU
    image lacks (and this project's CPU test environment too), at module load
    on the way to ``gemma4_mtp``: ``vllm.parser``, ``vllm.tool_parsers`` and the
    structured-output backends take its classes for type hints, defaults and a
    module-level constant or two. Structured output never runs in the
    verification, so none of it is used: a module object (with the submodules
    imported at module load) whose every name is an inert class is enough.
    Where xgrammar is installed it is used as it is.
    """
    import importlib
    import importlib.machinery
    import sys

    if XGRAMMAR in sys.modules:
        return isinstance(sys.modules[XGRAMMAR], _StandInModule)
    try:
        importlib.import_module(XGRAMMAR)
        return False
    except ImportError:
        pass
    package = _StandInModule(XGRAMMAR, messages.xgrammar_stand_in_doc())
    package.__path__ = []
    package.__spec__ = importlib.machinery.ModuleSpec(XGRAMMAR, None, is_package=True)
    sys.modules[XGRAMMAR] = package
    for sub in XGRAMMAR_SUBMODULES:
        name = f"{XGRAMMAR}.{sub}"
        module = _StandInModule(name, messages.xgrammar_stand_in_doc())
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules[name] = module
        setattr(package, sub, module)
    return True


# vLLM's compiled extensions that some releases import at module load (0.28.0's
# vllm/platforms/cuda.py imports _C_stable_libtorch at its top).
COMPILED_EXTENSIONS = ("_C_stable_libtorch",)


def stand_in_for_compiled_extensions() -> list[str]:
    """Register an empty module for each of vLLM's compiled extensions in
    ``COMPILED_EXTENSIONS`` that the tree lacks; returns their names.

    Why: the verification runs the Python-only tree taken from the wheel (the compiled
    extensions are too big to carry) with vLLM's CPU platform set, and calls none of
    their kernels; an import at module load is all that needs them. A tree that has the
    extension keeps it.
    """
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.find_spec("vllm")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    placed = []
    for short in COMPILED_EXTENSIONS:
        name = f"vllm.{short}"
        if name in sys.modules or any(any(Path(f).glob(f"{short}*.so")) for f in folders):
            continue
        sys.modules[name] = types.ModuleType(name, messages.compiled_stand_in_doc())
        placed.append(name)
    return placed


# What vLLM's CPU worker replaces with placeholders (vllm/v1/worker/cpu/shm.py) and the
# verification needs real on CUDA: torch.cuda's stream functions.
STREAM_FUNCTIONS = ("Stream", "current_stream", "stream")


@contextmanager
def keep_torch_cuda_streams():
    """Around vLLM's imports: where CUDA is, put torch.cuda's stream functions back
    afterwards, and make a side stream current as vLLM does on CUDA.

    With vLLM's ``CpuPlatform`` forced, importing 0.33.0 can replace
    ``torch.cuda.Stream``, ``current_stream`` and ``stream`` with placeholders,
    and ``vllm.utils.torch_utils.current_stream()``, which the proposer captures
    its graphs on since 0.29.0, would hand out a placeholder stream.
    """
    saved = {name: getattr(torch.cuda, name) for name in STREAM_FUNCTIONS}
    set_stream = torch.cuda.set_stream
    yield  # an import that failed is reported as it is, with nothing done here after it
    if torch.cuda.is_available():
        for name, value in saved.items():
            if getattr(torch.cuda, name) is not value:
                setattr(torch.cuda, name, value)
        use_side_stream(set_stream)


def use_side_stream(set_stream=None):
    """What vLLM's ``current_stream()`` does on CUDA on its first call: a new stream,
    ordered after the current one and made current, which it returns from then on (a
    graph cannot be captured on the default stream). Returns that stream, or None where
    the vLLM imported has no ``current_stream()`` or it already holds a real stream."""
    import sys

    torch_utils = sys.modules.get("vllm.utils.torch_utils")
    tls = getattr(torch_utils, "_current_stream_tls", None)
    if tls is None or isinstance(getattr(tls, "value", None), torch.cuda.Stream):
        return None
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    (set_stream or torch.cuda.set_stream)(stream)
    tls.value = stream
    return stream
