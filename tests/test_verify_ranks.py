"""Real ranks: each rank's result is merged into one result, and the whole path (spawn,
the check's function in each rank, vLLM's process-group set-up and all-gather) runs here
over gloo on the CPU."""

import json
import socket

from tests.helpers import run_python
from vllm_patches.verify.gpu.ranks import free_port, init_method, merge_ranks


def rank(number, status="ok", rows=(), error=None, where=None, **info):
    return {"rank": number, "status": status, "error": error, "where": where,
            "sizes": [dict(r) for r in rows], **info}


def row(size, matched, total, error=None):
    return {"size": size, "path": f"graph {size}", "matched": matched, "total": total,
            "error": error}


def test_matches_and_totals_add_up_over_the_ranks():
    merged = merge_ranks([
        rank(0, rows=[row(1, 3, 3), row(2, 6, 6)], vllm="0.22.1", gpu="H100"),
        rank(1, rows=[row(1, 3, 3), row(2, 5, 6)], vllm="0.22.1", gpu="H100"),
    ])
    assert merged["status"] == "ok" and merged["error"] is None
    assert [(r["size"], r["matched"], r["total"]) for r in merged["sizes"]] == [(1, 6, 6), (2, 11, 12)]
    assert merged["vllm"] == "0.22.1" and merged["gpu"] == "H100"
    assert [r["rank"] for r in merged["ranks"]] == [0, 1]


def test_one_failing_rank_fails_the_arm_with_its_error_labelled():
    merged = merge_ranks([
        rank(0, rows=[row(1, 3, 3)]),
        rank(1, status="error", rows=[row(1, 0, 0, error="CUDA error: boom")],
             error="CUDA error: boom", where="size 1"),
    ])
    assert merged["status"] == "error"
    assert merged["error"] == "rank 1: CUDA error: boom"
    assert merged["where"] == "size 1"
    assert merged["sizes"][0]["error"] == "rank 1: CUDA error: boom"


def test_a_rank_that_wrote_nothing_counts_as_failed_and_a_setup_error_counts_most():
    merged = merge_ranks([rank(0, rows=[row(1, 3, 3)]), None], failure="process 1 died")
    assert merged["status"] == "error"
    assert merged["error"] == "rank 1: rank 1 ended without a result (process 1 died)"
    merged = merge_ranks([rank(0, status="error", error="x"),
                          rank(1, status="setup-error", error="no vLLM")])
    assert merged["status"] == "setup-error" and merged["error"] == "rank 1: no vLLM"


def test_the_rendezvous_port_is_free_on_the_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert init_method(port) == f"tcp://127.0.0.1:{port}"


RANK_CHECK = '''
def rank_case(group, value):
    import torch

    from vllm_patches.verify.gpu.imports import import_module

    distributed = import_module("vllm.distributed", cpu_platform=True)
    group.join()
    gathered = distributed.tensor_model_parallel_all_gather(
        torch.tensor([[float(group.rank * value)]]), dim=0)
    return {"status": "ok", "sizes": [{"size": 1, "path": "gather", "error": None,
                                       "matched": int(gathered.flatten().tolist() == [0.0, value]),
                                       "total": 1}], "seen": gathered.flatten().tolist()}
'''
RUN = ("import json, sys; from vllm_patches.verify.gpu.ranks import run_ranks; "
       "print(json.dumps(run_ranks(2, sys.argv[1], 'rank_case', {'value': 3.0}, "
       "backend='gloo', device='cpu')))")


def test_two_ranks_over_gloo_join_vllms_own_group_and_gather_through_it(release, tmp_path):
    (tmp_path / "check.py").write_text(RANK_CHECK)
    proc = run_python(["-c", RUN, str(tmp_path / "check.py")], release("0.22.1"))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok", result
    assert [(r["rank"], r["status"]) for r in result["ranks"]] == [(0, "ok"), (1, "ok")]
    assert result["seen"] == [0.0, 3.0]  # vLLM's all-gather over the two ranks
    assert [(r["matched"], r["total"]) for r in result["sizes"]] == [(2, 2)]  # summed
