"""Real tensor parallelism for ``vllm-patches verify``: one process per GPU.

``run_ranks(config)`` starts ``config.tp`` ranks with ``torch.multiprocessing``
(spawn). Each rank sets its GPU, joins a process group through vLLM's own
``init_distributed_environment`` and ``initialize_model_parallel`` (NCCL on
GPUs), builds its vocabulary shard as ``ParallelLMHead`` shards it, and runs
the same scenario and comparison as the emulated arm, so every rank checks
its own graphs. Each rank writes its result to a file; ``merge_ranks`` makes
one arm result of them (a rank that wrote nothing counts as crashed).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from datetime import timedelta
from pathlib import Path

from vllm_patches.core.files import write_atomic
from vllm_patches.verify import messages
from vllm_patches.verify.gpu.arm import (
    ERROR,
    OK,
    SETUP_ERROR,
    ArmConfig,
    ArmSetupError,
    error_text,
    prepare,
    run_scenario,
)

INIT_TIMEOUT = timedelta(seconds=120)
_STATUS_ORDER = (SETUP_ERROR, ERROR, OK)  # the worst rank's status is the arm's
_INFO_KEYS = ("vllm", "torch", "gpu", "applied", "import_seconds")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_method(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


def run_ranks(config: ArmConfig) -> dict:
    """Start the ranks, wait for them, and merge what they wrote."""
    import torch.multiprocessing as mp

    port = free_port()
    failure = None
    with tempfile.TemporaryDirectory(prefix="vllm-patches-ranks-") as folder:
        try:
            mp.start_processes(_rank_main, args=(config, port, folder), nprocs=config.tp,
                               join=True, start_method="spawn")
        except Exception as exc:  # a rank died or raised: the others are stopped
            failure = error_text(exc)
        results = [_read_rank(Path(folder), rank) for rank in range(config.tp)]
    return merge_ranks(results, failure)


def _rank_file(folder: Path, rank: int) -> Path:
    return folder / f"rank{rank}.json"


def _read_rank(folder: Path, rank: int) -> dict | None:
    try:
        return json.loads(_rank_file(folder, rank).read_text())
    except (OSError, ValueError):
        return None


def _rank_main(rank: int, config: ArmConfig, port: int, folder: str) -> None:
    """One rank: set up, join the group, run the scenario, write the result, leave."""
    result: dict = {"rank": rank}
    try:
        if config.device == "cuda":
            import torch

            torch.cuda.set_device(rank)  # before anything makes a CUDA context
        setup = prepare(config)
        result.update(setup.info)
        try:
            join_group(config, rank, port)
        except Exception as exc:
            raise ArmSetupError(messages.rank_group_failed(error_text(exc))) from None
        result.update(run_scenario(config, setup, rank=rank, emulate=False))
    except ArmSetupError as exc:
        result.update(status=SETUP_ERROR, error=str(exc), where="setup", sizes=[])
    except Exception as exc:
        result.update(status=ERROR, error=error_text(exc), where="setup", sizes=[])
    path = _rank_file(Path(folder), rank)
    write_atomic(path, json.dumps(result))
    os._exit(0)  # never run NCCL or CUDA teardown after a CUDA error


def join_group(config: ArmConfig, rank: int, port: int) -> None:
    """vLLM's own distributed set-up for a TP group of ``config.tp`` ranks."""
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.distributed import parallel_state

    with set_current_vllm_config(VllmConfig()):
        parallel_state.init_distributed_environment(
            world_size=config.tp, rank=rank, distributed_init_method=init_method(port),
            local_rank=rank, backend=config.backend, timeout=INIT_TIMEOUT,
        )
        parallel_state.initialize_model_parallel(tensor_model_parallel_size=config.tp,
                                                 backend=config.backend)


def merge_ranks(results: list[dict | None], failure: str | None = None) -> dict:
    """One arm result from the ranks' results (None: the rank wrote nothing).

    Matches and totals add up over the ranks; the arm takes the worst status of
    any rank and the first error, labelled with its rank.
    """
    ranks = []
    for rank, result in enumerate(results):
        if result is None:
            result = {"rank": rank, "status": ERROR, "where": "setup", "sizes": [],
                      "error": messages.rank_gave_nothing(rank, failure)}
        ranks.append(result)
    worst = min(ranks, key=lambda r: _STATUS_ORDER.index(r.get("status", ERROR)))
    merged: dict = {
        "status": worst.get("status", ERROR),
        "error": None,
        "where": None,
        "sizes": _merge_sizes(ranks),
        "ranks": [{"rank": r["rank"], "status": r.get("status"), "error": r.get("error"),
                   "where": r.get("where")} for r in ranks],
    }
    if merged["status"] != OK:
        merged["error"] = f"rank {worst['rank']}: {worst.get('error')}"
        merged["where"] = worst.get("where")
    for key in _INFO_KEYS:
        merged[key] = next((r[key] for r in ranks if r.get(key) is not None), None)
    return merged


def _merge_sizes(ranks: list[dict]) -> list[dict]:
    rows: dict[int, dict] = {}
    for result in ranks:
        for row in result.get("sizes") or []:
            merged = rows.setdefault(row["size"], {"size": row["size"], "path": row["path"],
                                                   "matched": 0, "total": 0, "error": None})
            merged["matched"] += row["matched"]
            merged["total"] += row["total"]
            if row.get("error") and not merged["error"]:
                merged["error"] = f"rank {result['rank']}: {row['error']}"
    return list(rows.values())
