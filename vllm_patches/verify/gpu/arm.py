"""One arm of ``vllm-patches verify`` for one scenario, in a process of its own.

``python -m vllm_patches.verify.gpu.arm --arm patched --scenario capture ...``
prints one JSON object on its last line of stdout, then leaves at once
(``os._exit``): after an illegal memory access the CUDA context is dead and
even the interpreter's exit can hang or abort. ``vllm-patches verify`` runs
each (arm, scenario) pair so, and reads that line.

An arm imports vLLM's ``gemma4_mtp`` and ``spec_decode/gemma4`` with vLLM's
``CpuPlatform`` as the current platform (a Python-only vLLM tree has no
compiled extensions; the tensors still live on CUDA), applies the catalogue
the production way (``patched``) or checks that nothing patched the code
(``control``), and runs one scenario:

capture
    vLLM's own ``Gemma4Proposer._setup_centroids_cuda_graphs`` captures the
    centroid graphs; then what the engine does next: ``gc.collect()``,
    ``torch.cuda.empty_cache()`` and a large allocation filled with NaN
    standing in for the KV cache; then, for each size and trial, vLLM's
    ``_greedy_sample`` (graph replay, or its eager fallback above the largest
    captured size) against eager ``get_top_tokens`` on the whole weight.
reload
    the same, with new weights written into the shards and vLLM's
    ``load_weights`` run after capture, compared against the new weights.
    The new weights are allocated before capture, each shard with its own
    storage, so that none can land where a freed tensor was and make a stale
    graph read the right values by luck.

Before each call the graphs' static outputs are filled with a sentinel, so a
graph that did not run shows as a mismatch. The eager reference runs at the
batch size of the graph that serves the call (rows are independent), so both
take the same kernels and must agree bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import time
from dataclasses import dataclass, field

from vllm_patches.verify import messages
from vllm_patches.verify.gpu.defaults import DEFAULT_SIZES, GEMMA4_ASSISTANT

PATCHED, CONTROL = "patched", "control"
ARMS = (PATCHED, CONTROL)
CAPTURE, RELOAD = "capture", "reload"
SCENARIOS = (CAPTURE, RELOAD)
EMULATED, RANKS = "emulated", "ranks"

# Statuses of one arm's result (the orchestrator adds crashed, timeout, unavailable, skipped).
OK = "ok"
ERROR = "error"  # an exception while the scenario ran (a CUDA error, say)
SETUP_ERROR = "setup-error"  # the arm could not get as far as the scenario

SENTINEL = -1  # never a token id
CAPTURED_SIZES = (1, 2, 4, 8, 16, 32, 64)  # what vLLM's _setup_centroids_cuda_graphs captures
# The modules under test (as in ``harness``, named here so that reading them needs no torch).
MTP_MODULE = "vllm.model_executor.models.gemma4_mtp"
PROPOSER_MODULE = "vllm.v1.spec_decode.gemma4"


class ArmSetupError(Exception):
    """The arm could not get as far as running its scenario."""


@dataclass(frozen=True)
class ArmConfig:
    """Everything one arm process needs; travels as command-line arguments."""

    arm: str
    scenario: str
    tp: int = 2
    mode: str = EMULATED
    sizes: tuple[int, ...] = DEFAULT_SIZES
    trials: int = 5
    vocab: int = GEMMA4_ASSISTANT["vocab"]
    hidden: int = GEMMA4_ASSISTANT["hidden"]
    centroids: int = GEMMA4_ASSISTANT["centroids"]
    top_k: int = GEMMA4_ASSISTANT["top_k"]
    device: str = "cuda"  # "cpu": emulated CUDA graphs, for tests
    backend: str = "nccl"  # process-group backend with real ranks
    kv_fraction: float = 0.1  # of the free GPU memory, for the KV-cache stand-in
    seed: int = 0

    def argv(self) -> list[str]:
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            out += [f"--{f.name.replace('_', '-')}", str(value)]
        return out

    @classmethod
    def from_argv(cls, argv: list[str]) -> ArmConfig:
        parser = argparse.ArgumentParser(prog="python -m vllm_patches.verify.gpu.arm")
        for f in dataclasses.fields(cls):
            kind = type(f.default) if f.default is not dataclasses.MISSING else str
            parse = _parse_sizes if kind is tuple else kind
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=parse,
                                required=f.default is dataclasses.MISSING)
        values = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
        config = cls(**values)
        if config.arm not in ARMS or config.scenario not in SCENARIOS:
            parser.error(f"--arm is one of {ARMS}, --scenario one of {SCENARIOS}")
        return config


def _parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def graph_sizes_first(sizes) -> list[int]:
    """Sizes that replay a graph, smallest first, then the eager ones: an eager call
    gathers the weight anew, which must not come before the replays it could hide."""
    top = max(CAPTURED_SIZES)
    return sorted(s for s in set(sizes) if s <= top) + sorted(s for s in set(sizes) if s > top)


def error_text(exc: BaseException) -> str:
    """The first line of an exception, as a person would read it in a table."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    name = type(exc).__name__
    if not text:
        return name
    if name in ("RuntimeError", "AcceleratorError") or text.startswith(name):
        return text
    return f"{name}: {text}"


# Setting up an arm -----------------------------------------------------------
@dataclass
class Setup:
    module: object  # vllm.model_executor.models.gemma4_mtp
    proposer_cls: type
    info: dict = field(default_factory=dict)


def prepare(config: ArmConfig) -> Setup:
    """Import vLLM's modules as the verification does, and patch (or check) them."""
    started = time.perf_counter()
    try:
        import torch

        from vllm_patches.verify.gpu import harness
        if config.device == "cpu":
            from vllm_patches.verify.gpu import cpu_graphs
            cpu_graphs.install()
        if config.arm == PATCHED:
            from vllm_patches.runtime import plugin  # The production path: what vLLM's plugin loader calls in every
            # process; the patches then apply as the model module is imported.
            plugin.register(via="verify")
        module = harness.import_mtp_module(cpu_platform=True)
        proposer_cls = harness.import_proposer_class(cpu_platform=True)
    except Exception as exc:
        raise ArmSetupError(messages.arm_import_failed(error_text(exc))) from None
    imported = time.perf_counter() - started
    applied = apply_patches() if config.arm == PATCHED else []
    if config.arm == CONTROL:
        marked = patched_methods(module)
        if marked:
            raise ArmSetupError(messages.control_runs_patched_code(marked))
    info = {
        "vllm": _vllm_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if config.device == "cuda" else None,
        "applied": applied,
        "import_seconds": round(imported, 2),
    }
    return Setup(module, proposer_cls, info)


def apply_patches() -> list[dict]:
    """The outcomes of the patched arm's patches.

    ``prepare`` armed the plugin's import hook before importing vLLM's model
    module, as vLLM's plugin loader does in every process, so the patches are
    in by now; ``runtime.apply()`` then reports ``already-applied`` for each
    one the hook applied (``applied`` here would mean the hook did not).
    """
    from vllm_patches.runtime import patcher as runtime
    return [outcome.to_dict() for outcome in runtime.apply()]


def patched_methods(module) -> list[str]:
    """Methods of ``Gemma4MTP`` that a runtime patch replaced (a hook may have run)."""
    from vllm_patches.runtime.patcher import is_marked

    cls = getattr(module, "Gemma4MTP", None)
    return sorted(n for n, f in vars(cls).items() if is_marked(f)) if cls else []


def _vllm_version() -> str | None:
    from vllm_patches.core.detect import find_vllm

    try:
        install = find_vllm()
    except Exception:
        return None
    return str(install.version) if install and install.version else None


# One scenario ----------------------------------------------------------------
def run_scenario(config: ArmConfig, setup: Setup, *, rank: int = 0, emulate: bool = True) -> dict:
    """``{"status", "error", "where", "sizes": [row, ...]}`` for one scenario."""
    import torch

    from vllm_patches.verify.gpu import harness
    if config.device == "cuda":
        device = torch.device("cuda", rank if not emulate else torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    dtype = torch.bfloat16
    rows: list[dict] = []
    where = "capture"
    try:
        with torch.no_grad():
            shell = harness.build_shell(
                setup.module, vocab=config.vocab, hidden=config.hidden,
                num_centroids=config.centroids, top_k=config.top_k, tp=config.tp,
                dtype=dtype, device=device, seed=config.seed, rank=rank, emulate=emulate,
            )
            new = shell.new_weights(config.seed + 1) if config.scenario == RELOAD else None
            proposer = harness.ProposerStandIn(setup.proposer_cls, shell.model,
                                               dtype=dtype, device=device)
            proposer._setup_centroids_cuda_graphs()
            kv_cache = after_capture(device, config.kv_fraction)
            if new is not None:
                where = "reload"
                shell.reload(new)
                del new
            where = "compare"
            compare(config, proposer, shell, rows, device, dtype)
            del kv_cache
    except Exception as exc:
        failed = next((r for r in rows if r.get("error")), None)
        return {"status": ERROR, "error": error_text(exc),
                "where": f"size {failed['size']}" if failed else where, "sizes": rows}
    return {"status": OK, "error": None, "where": None, "sizes": rows}


def after_capture(device, kv_fraction: float):
    """What the engine does after loading the draft model: free, empty the cache, then
    allocate the KV cache (here filled with NaN, so a stale read shows)."""
    import torch

    gc.collect()
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    kv_cache = torch.empty(int(free * kv_fraction), dtype=torch.uint8, device=device)
    kv_cache.fill_(0xFF)  # all ones: NaN in every floating-point type
    torch.cuda.synchronize(device)
    return kv_cache


def compare(config: ArmConfig, proposer, shell, rows: list[dict], device, dtype) -> None:
    """vLLM's ``_greedy_sample`` against eager ``get_top_tokens`` on the whole weight."""
    import torch

    embedder = shell.model.masked_embedding
    for size in graph_sizes_first(config.sizes):
        graph = proposer.graph_size_for(size)
        row = {"size": size, "path": f"graph {graph}" if graph else "eager",
               "matched": 0, "total": 0, "error": None}
        rows.append(row)
        try:
            for trial in range(config.trials):
                gen = torch.Generator(device=device).manual_seed(
                    config.seed * 1_000_003 + size * 1_000 + trial)
                hidden = torch.randn(size, config.hidden, generator=gen, device=device).to(dtype)
                for output in proposer._centroids_outputs.values():
                    output.fill_(SENTINEL)
                got = proposer._greedy_sample(hidden)
                want = _eager_tokens(embedder, hidden, graph, shell.expected_full)
                row["matched"] += int((got == want).sum().item())
                row["total"] += size
        except Exception as exc:
            row["error"] = error_text(exc)
            raise


def _eager_tokens(embedder, hidden, graph: int | None, weight):
    import torch

    rows = hidden.shape[0]
    if graph is not None and graph > rows:
        padded = torch.zeros(graph, hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
        padded[:rows] = hidden
        hidden = padded
    return embedder.get_top_tokens(hidden, weight)[:rows]


# The process -------------------------------------------------------------------
def run_arm(config: ArmConfig) -> dict:
    """This arm's result for its scenario (emulated TP in this process, or real ranks)."""
    started = time.perf_counter()
    report = {"arm": config.arm, "scenario": config.scenario, "mode": config.mode,
              "tp": config.tp, "device": config.device}
    try:
        if config.mode == RANKS:
            from vllm_patches.verify.gpu.ranks import run_ranks

            report.update(run_ranks(config))
        else:
            setup = prepare(config)
            report.update(setup.info)
            report.update(run_scenario(config, setup, emulate=True))
    except ArmSetupError as exc:
        report.update(status=SETUP_ERROR, error=str(exc), where="setup", sizes=[])
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def emit_and_exit(result: dict) -> None:
    """Print the result line and leave without running interpreter shutdown."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    config = ArmConfig.from_argv(sys.argv[1:] if argv is None else argv)
    emit_and_exit(run_arm(config))


if __name__ == "__main__":
    main()
