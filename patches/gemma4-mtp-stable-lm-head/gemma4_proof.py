"""The Gemma 4 MTP proof that both Gemma 4 MTP patches' check.py run (on a CUDA GPU).

It runs vLLM's own ``Gemma4MTP``, ``Gemma4MTPMaskedEmbedder`` and
``Gemma4Proposer._setup_centroids_cuda_graphs`` / ``_greedy_sample`` at the Gemma 4
assistant's sizes (vocab 262144, hidden 256, 2048 centroids, top-k 32, bf16), with
TP > 1, each scenario in a process of its own (``vllm_patches.verify.gpu.isolated``):

capture
    vLLM captures the centroid graphs; then what the engine does next: ``gc.collect()``,
    ``torch.cuda.empty_cache()`` and a NaN-filled stand-in for the KV cache; then, for
    each size and trial, ``_greedy_sample`` (graph replay, or its eager fallback above
    the largest captured size) against eager ``get_top_tokens`` on the whole weight.
reload
    the same, with new weights written into the shards and vLLM's ``load_weights`` run
    after capture, compared against the new weights. The new weights are allocated
    before capture, each shard with its own storage, so that none can land where a
    freed tensor was and make a stale graph read the right values by luck.

The eager reference runs at the batch size of the graph that serves the call (rows are
independent), so both take the same kernels and must agree bit for bit. With GPUs
enough (and not ``emulate_tp``) the ranks are real (``verify.gpu.ranks``, NCCL);
otherwise one process plays rank 0 (``verify.gpu.tp.EmulatedTP``). ``device=cpu``
emulates the graphs on the CPU (for tests: a replay that reads a freed tensor fails).

The shell: vLLM's ``Gemma4MTP.__init__`` needs a whole ``VllmConfig``; the fixes touch
only ``lm_head``, ``masked_embedding`` and the module's two TP helpers, so the model is
made with ``__new__`` plus ``nn.Module.__init__``, with this rank's vocabulary shard and
the real masked embedder. ``ProposerStandIn`` binds ``Gemma4Proposer``'s own graph
methods to an object holding only the fields they read.
"""

from __future__ import annotations

import inspect
import time
import types
from dataclasses import dataclass

from vllm_patches.verify.gpu import graphs, imports, isolated, ranks
from vllm_patches.verify.gpu import tp as tensor_parallel

MTP_MODULE = "vllm.model_executor.models.gemma4_mtp"
PROPOSER_MODULE = "vllm.v1.spec_decode.gemma4"
PROPOSER_METHODS = ("_setup_centroids_cuda_graphs", "_greedy_sample")
CAPTURED_SIZES = (1, 2, 4, 8, 16, 32, 64)  # what vLLM's _setup_centroids_cuda_graphs captures
CENTROIDS, TOP_K = 2048, 32  # the Gemma 4 assistant's
SCENARIOS = ("capture", "reload")
KV_SHARE = 0.5  # of the free GPU memory, split between the processes that run at once
TIMEOUT = 280.0  # seconds per scenario process: under verify's 300 s for the arm


# The check ---------------------------------------------------------------------------
def run_check(check_file: str, scenario: str = "all", tp: int = 2, emulate_tp: bool = False,
              sizes=(), trials: int = 5, vocab: int = 262144, hidden: int = 256,
              device: str = "cuda") -> dict:
    """One arm of a Gemma 4 MTP check: each scenario in a process of its own, at once."""
    scenarios = SCENARIOS if scenario == "all" else (scenario,)
    _validate(scenarios, tp, sizes, trials, vocab, hidden, device)
    share = round(KV_SHARE / (2 * len(scenarios)), 4)  # both arms run at once
    cases = [{"case": name, "tp": tp, "emulate_tp": emulate_tp, "sizes": list(sizes),
              "trials": trials, "vocab": vocab, "hidden": hidden, "device": device,
              "kv_fraction": share, "check_file": str(check_file)} for name in scenarios]
    return graphs.arm_verdict(isolated.run_cases(check_file, "scenario", cases, TIMEOUT))


def _validate(scenarios, tp_size, sizes, trials, vocab, hidden, device) -> None:
    if any(s not in SCENARIOS for s in scenarios):
        raise ValueError(f"scenario is one of all, {', '.join(SCENARIOS)}")
    if not sizes or any(int(s) < 1 for s in sizes) or min(tp_size, trials, hidden) < 1:
        raise ValueError("sizes, tp, trials and hidden must be positive whole numbers")
    if vocab < CENTROIDS or vocab % CENTROIDS:
        raise ValueError(f"vocab must be a multiple of the {CENTROIDS} centroids (262144)")
    if device not in ("cuda", "cpu"):
        raise ValueError("device is cuda or cpu")


def scenario(case: str, tp: int, emulate_tp: bool, device: str, check_file: str,
             **settings) -> dict:
    """One scenario, in its own process: real ranks where there are GPUs enough."""
    mode = _mode(tp, emulate_tp, device)
    report = {"tp": tp, "mode": mode, "trials": settings["trials"]}
    if mode == "ranks":
        backend = "nccl" if device == "cuda" else "gloo"
        kwargs = {"case": case, "tp": tp, "device": device, **settings}
        report.update(ranks.run_ranks(tp, check_file, "rank_scenario", kwargs,
                                      backend=backend, device=device))
        return report
    setup = prepare(device)
    report.update(setup.info)
    report.update(run_scenario(case, setup, tp=tp, device=device, **settings))
    return report


def _mode(tp_size: int, emulate_tp: bool, device: str) -> str:
    if tp_size == 1 or emulate_tp or device == "cpu":
        return "emulated"
    import torch

    return "ranks" if torch.cuda.device_count() >= tp_size else "emulated"


def rank_scenario(group, case: str, tp: int, device: str, **settings) -> dict:
    """One real rank of a scenario (``verify.gpu.ranks`` calls it in each rank)."""
    setup = prepare(device)
    group.join()
    result = dict(setup.info)
    result.update(run_scenario(case, setup, tp=tp, device=device, rank=group.rank,
                               emulate=False, **settings))
    return result


# Setting up ----------------------------------------------------------------------------
def import_mtp_module(cpu_platform: bool = False) -> types.ModuleType:
    """vLLM's ``gemma4_mtp`` (``cpu_platform``: as on a GPU box without vLLM's _C)."""
    return imports.import_module(MTP_MODULE, cpu_platform)


def import_proposer_class(cpu_platform: bool = False) -> type:
    return imports.import_module(PROPOSER_MODULE, cpu_platform).Gemma4Proposer


@dataclass
class Setup:
    module: types.ModuleType  # vllm.model_executor.models.gemma4_mtp
    proposer_cls: type
    info: dict


def prepare(device: str) -> Setup:
    """Import vLLM's modules (the plugin, armed by the caller, patches them in the patched
    arm); in the control, prove that nothing did."""
    started = time.perf_counter()
    try:
        module = import_mtp_module(cpu_platform=True)
        proposer_cls = import_proposer_class(cpu_platform=True)
    except Exception as exc:
        raise graphs.SetupError(f"vLLM's Gemma 4 MTP modules could not be imported "
                                f"({graphs.error_text(exc)})") from None
    isolated.control_unpatched(module.Gemma4MTP)
    import torch

    return Setup(module, proposer_cls, {
        "torch": torch.__version__, "import_seconds": round(time.perf_counter() - started, 2),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None})


# One scenario ----------------------------------------------------------------------------
def run_scenario(case: str, setup: Setup, *, tp: int, device: str, sizes, trials: int,
                 vocab: int, hidden: int, kv_fraction: float, rank: int = 0,
                 emulate: bool = True, seed: int = 0) -> dict:
    """``{"status", "error", "where", "sizes": [row, ...]}`` for one scenario."""
    import torch

    if device == "cuda":
        where_to = torch.device("cuda", rank if not emulate else torch.cuda.current_device())
    else:
        where_to = torch.device("cpu")
    dtype = torch.bfloat16
    rows: list[dict] = []
    where = "capture"
    try:
        with torch.no_grad():
            shell = build_shell(setup.module, vocab=vocab, hidden=hidden, num_centroids=CENTROIDS,
                                top_k=TOP_K, tp=tp, dtype=dtype, device=where_to, seed=seed,
                                rank=rank, emulate=emulate)
            new = shell.new_weights(seed + 1) if case == "reload" else None
            proposer = ProposerStandIn(setup.proposer_cls, shell.model, dtype=dtype,
                                       device=where_to)
            proposer._setup_centroids_cuda_graphs()
            kv_cache = graphs.after_capture(where_to, kv_fraction)
            if new is not None:
                where = "reload"
                shell.reload(new)
                del new
            where = "compare"
            _compare(proposer, shell, sizes, trials, hidden, seed, rows, where_to, dtype)
            del kv_cache
    except Exception as exc:
        failed = next((r for r in rows if r.get("error")), None)
        return {"status": graphs.ERROR, "error": graphs.error_text(exc),
                "where": f"size {failed['size']}" if failed else where, "sizes": rows}
    return {"status": graphs.OK, "error": None, "where": None, "sizes": rows}


def _compare(proposer, shell, sizes, trials, hidden, seed, rows, device, dtype) -> None:
    """vLLM's ``_greedy_sample`` against eager ``get_top_tokens`` on the whole weight."""
    import torch

    def path_for(size: int) -> str:
        graph = proposer.graph_size_for(size)
        return f"graph {graph}" if graph else "eager"

    def trial(size: int, number: int):
        gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + size * 1_000 + number)
        states = torch.randn(size, hidden, generator=gen, device=device).to(dtype)
        for output in proposer._centroids_outputs.values():
            output.fill_(graphs.SENTINEL)
        got = proposer._greedy_sample(states)
        graph = proposer.graph_size_for(size)
        return got, _eager_tokens(shell.model.masked_embedding, states, graph, shell.expected_full)

    graphs.compare(graphs.graph_sizes_first(sizes, CAPTURED_SIZES), trials, path_for, trial, rows)


def _eager_tokens(embedder, hidden, graph: int | None, weight):
    import torch

    rows = hidden.shape[0]
    if graph is not None and graph > rows:
        padded = torch.zeros(graph, hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
        padded[:rows] = hidden
        hidden = padded
    return embedder.get_top_tokens(hidden, weight)[:rows]


# The model shell ----------------------------------------------------------------------------
@dataclass
class Shell:
    model: object  # a Gemma4MTP made without its __init__
    tp: tensor_parallel.EmulatedTP | tensor_parallel.RankTP
    full_weight: object  # the whole (padded) vocabulary x hidden weight
    vocab: int

    @property
    def expected_full(self):
        return self.full_weight[: self.vocab]

    def new_weights(self, seed: int) -> tensor_parallel.Sharded:
        """Other weights of the same shape, allocated now (before any graph is captured,
        so they cannot land on memory a captured graph reads after it was freed)."""
        current = self.full_weight
        full = tensor_parallel.random_weight(current.shape[0], current.shape[1], self.vocab, seed,
                                current.dtype, current.device)
        return tensor_parallel.Sharded.of(full, self.tp.size)

    def reload(self, new) -> None:
        """New weights, as a weight sync does, then vLLM's ``load_weights``: this rank's
        shard is written into its parameter in place (as vLLM's weight loaders do)."""
        import torch

        if not isinstance(new, tensor_parallel.Sharded):
            new = tensor_parallel.Sharded.of(new, self.tp.size)
        with torch.no_grad():
            self.model.lm_head.weight.copy_(new.shards[self.tp.rank])
        if isinstance(self.tp, tensor_parallel.EmulatedTP):
            self.tp.other_shards = list(new.shards[1:])
        self.full_weight = new.full_weight
        self.model.load_weights([])


def build_shell(module: types.ModuleType, *, vocab: int = 4096, hidden: int = 32,
                num_centroids: int = 64, top_k: int = 8, tp: int = 2, dtype=None,
                device="cpu", seed: int = 0, rank: int = 0, emulate: bool = True) -> Shell:
    """A ``Gemma4MTP`` of the given sizes from ``module``'s real classes.

    ``emulate``: this process plays rank 0 of ``tp`` (``EmulatedTP``, installed into
    ``module``); otherwise it is rank ``rank`` of an initialised TP group of ``tp``.
    Every rank draws the same weights from ``seed``. (Small sizes by default, for tests;
    the check passes the assistant's.)
    """
    import torch
    from torch import nn

    if emulate and rank != 0:
        raise ValueError("an emulated TP group is played by rank 0")
    dtype = dtype or torch.float32
    gen = torch.Generator().manual_seed(seed)
    full = tensor_parallel.random_weight(tensor_parallel.padded_vocab(vocab, tp), hidden, vocab, gen,
                                    dtype, device)
    shards = list(full.chunk(tp, dim=0))
    cls = module.Gemma4MTP
    model = cls.__new__(cls)
    nn.Module.__init__(model)
    model.config = types.SimpleNamespace()
    model.lm_head = nn.Module()
    model.lm_head.weight = nn.Parameter(shards[rank].clone(), requires_grad=False)
    embedder = module.Gemma4MTPMaskedEmbedder(hidden_size=hidden, vocab_size=vocab,
                                              num_centroids=num_centroids,
                                              centroid_intermediate_top_k=top_k)
    with torch.no_grad():
        embedder.centroids.weight.copy_(torch.randn(num_centroids, hidden, generator=gen))
        embedder.token_ordering.copy_(torch.randperm(vocab, generator=gen))
    model.masked_embedding = embedder.to(device=device, dtype=dtype)
    model.masked_embedding.token_ordering = model.masked_embedding.token_ordering.long()
    _init_attributes_of(cls, model)
    if not emulate:
        return Shell(model, tensor_parallel.RankTP(tp, rank), full, vocab)
    emulated = tensor_parallel.EmulatedTP(tp, [s.clone() for s in shards[1:]])
    emulated.install(module)
    return Shell(model, emulated, full, vocab)


def _init_attributes_of(cls: type, model) -> None:
    """Set the plain attributes that this release's ``__init__`` would set (``__init__`` is
    wrapped by ``@support_torch_compile``, so the class's own source text is read)."""
    try:
        init_source = inspect.getsource(cls)
    except (OSError, TypeError):
        return
    for name in ("_stable_full_lm_head_weight", "_suppress_token_ids"):
        if f"self.{name}" in init_source:
            setattr(model, name, None)


class ProposerStandIn:
    """What ``Gemma4Proposer``'s centroid CUDA graphs use, running vLLM's own methods.

    ``Gemma4Proposer.__init__`` needs a whole engine. ``_setup_centroids_cuda_graphs``
    and ``_greedy_sample`` read only ``model``, ``dtype``, ``device`` and the four
    ``_centroids_*`` fields, so the real functions are bound to this object.
    (``_greedy_sample`` calls ``super()`` only while no graph is captured.)
    """

    def __init__(self, proposer_cls: type, model, *, dtype, device) -> None:
        import torch

        self.model = model
        self.dtype = dtype
        self.device = torch.device(device)
        self._centroids_sizes: list[int] = []
        self._centroids_graphs: dict[int, object] = {}
        self._centroids_inputs: dict[int, object] = {}
        self._centroids_outputs: dict[int, object] = {}
        for name in PROPOSER_METHODS:
            func = proposer_cls.__dict__.get(name)
            if not isinstance(func, types.FunctionType):
                raise AttributeError(f"{proposer_cls.__qualname__} has no method {name}")
            setattr(self, name, types.MethodType(func, self))

    def graph_size_for(self, tokens: int) -> int | None:
        """The captured size that ``_greedy_sample`` replays for ``tokens`` (None: eager)."""
        return next((s for s in self._centroids_sizes if s >= tokens), None)
