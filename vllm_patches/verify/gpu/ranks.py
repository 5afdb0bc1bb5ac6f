"""Real tensor parallelism for a GPU check: one process per GPU.

``run_ranks(group_size, check_file, function, kwargs, backend)`` starts the ranks with
``torch.multiprocessing`` (spawn). Each rank sets its GPU (on CUDA) before anything
makes a CUDA context, arms the plugin as every vLLM process does, and calls
``FUNCTION(group=RankGroup(...), **kwargs)`` of the check file: the function joins
the group (``group.join()``: vLLM's own ``init_distributed_environment`` and
``initialize_model_parallel``) once it has imported and built what it needs, runs, and
returns its result. Each rank writes it to a file; ``merge_ranks`` makes one result
of them (a rank that wrote nothing counts as crashed).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from vllm_patches.core.files import write_atomic
from vllm_patches.verify import messages
from vllm_patches.verify.gpu.graphs import ERROR, OK, SETUP_ERROR, SetupError, error_text

INIT_TIMEOUT = timedelta(seconds=120)
_STATUS_ORDER = (SETUP_ERROR, ERROR, OK)  # the worst rank's status is the arm's
_RANK_KEYS = ("rank", "status", "error", "where", "sizes")  # the rest is what it ran on


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_method(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


@dataclass(frozen=True)
class RankGroup:
    """This process is rank ``rank`` of a TP group of ``size`` (``join`` sets it up)."""

    size: int
    rank: int
    port: int
    backend: str = "nccl"
    device: str = "cuda"

    def join(self) -> None:
        """vLLM's own distributed set-up for this group."""
        from vllm.config import VllmConfig, set_current_vllm_config
        from vllm.distributed import parallel_state

        try:
            with set_current_vllm_config(VllmConfig()):
                parallel_state.init_distributed_environment(
                    world_size=self.size, rank=self.rank,
                    distributed_init_method=init_method(self.port), local_rank=self.rank,
                    backend=self.backend, timeout=INIT_TIMEOUT)
                parallel_state.initialize_model_parallel(tensor_model_parallel_size=self.size,
                                                         backend=self.backend)
        except Exception as exc:
            raise SetupError(messages.rank_group_failed(error_text(exc))) from None


def run_ranks(size: int, check_file: str, function: str, kwargs: dict, *,
              backend: str = "nccl", device: str = "cuda") -> dict:
    """Start the ranks, wait for them, and merge what they wrote."""
    import torch.multiprocessing as mp

    port = free_port()
    failure = None
    with tempfile.TemporaryDirectory(prefix="vllm-patches-ranks-") as folder:
        try:
            mp.start_processes(_rank_main, nprocs=size, join=True, start_method="spawn",
                               args=(RankGroup(size, 0, port, backend, device), check_file,
                                     function, kwargs, folder))
        except Exception as exc:  # a rank died or raised: the others are stopped
            failure = error_text(exc)
        results = [_read_rank(Path(folder), rank) for rank in range(size)]
    return merge_ranks(results, failure)


def _rank_file(folder: Path, rank: int) -> Path:
    return folder / f"rank{rank}.json"


def _read_rank(folder: Path, rank: int) -> dict | None:
    try:
        return json.loads(_rank_file(folder, rank).read_text())
    except (OSError, ValueError):
        return None


def _rank_main(rank: int, group: RankGroup, check_file: str, function: str, kwargs: dict,
               folder: str) -> None:
    """One rank: set its GPU, arm the plugin, run the function, write the result, leave."""
    from dataclasses import replace

    from vllm_patches.verify.check_arm import load_check

    result: dict = {"rank": rank}
    try:
        if group.device == "cuda":
            import torch

            torch.cuda.set_device(rank)  # before anything makes a CUDA context
        if group.device == "cpu":
            from vllm_patches.verify.gpu import cpu_graphs

            cpu_graphs.install()
        from vllm_patches.runtime import plugin

        plugin.register(via="verify")
        check = load_check(check_file, f"vllm_patches_rank{rank}")
        result.update(getattr(check, function)(group=replace(group, rank=rank), **kwargs))
    except SetupError as exc:
        result.update(status=SETUP_ERROR, error=str(exc), where="setup", sizes=[])
    except Exception as exc:
        result.update(status=ERROR, error=error_text(exc), where="setup", sizes=[])
    write_atomic(_rank_file(Path(folder), rank), json.dumps(result))
    os._exit(0)  # never run NCCL or CUDA teardown after a CUDA error


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
    for key in dict.fromkeys(k for r in ranks for k in r if k not in _RANK_KEYS):
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
