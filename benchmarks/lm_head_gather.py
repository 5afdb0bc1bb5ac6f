#!/usr/bin/env python3
"""All-gathers, copies and allocations of ``Gemma4MTP._get_full_lm_head_weight``.

For the vLLM release on PYTHONPATH, as released and with the catalogue applied
at run time, at TP=1 and at emulated TP=2 (the all-gather concatenates the
shards into a new tensor, as NCCL's does), over N calls on the CPU (or, with ``--device cuda``, a GPU):

  gathers    all-gathers in N calls
  copies     tensor copies (clone, copy_, to) in N calls
  first/next bytes newly allocated by the first call / by each later call
  same       whether every call returned the storage of the call before,
             while that result is still held (what a captured CUDA graph needs)
  first/next us  microseconds of the first call / of each later call (timed
             without the counters)

Usage: PYTHONPATH=~/.cache/vllm-patches/releases/0.22.1:. \\
           python3 benchmarks/lm_head_gather.py [--calls 20] [--vocab 262144] [--hidden 256]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vllm_patches.core.catalog import get_patch
from vllm_patches.core.detect import find_vllm
from vllm_patches.runtime import patcher as runtime
from vllm_patches.verify.check_arm import load_check
from vllm_patches.verify.gpu.cpu_graphs import tensors_in

# The Gemma 4 MTP proof's model shell (the catalogue's gemma4-mtp-stable-lm-head folder).
harness = load_check(get_patch("gemma4-mtp-stable-lm-head").folder / "gemma4_proof.py",
                     "gemma4_proof")

COPY_OPS = {"aten::clone", "aten::copy_", "aten::_to_copy"}


class Allocations(TorchDispatchMode):
    """Counts the bytes of tensors that aten ops create with new storage, and the copies."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.copies = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tensors_in(args) + tensors_in(kwargs)}
        for tensor in tensors_in(out):
            if tensor.untyped_storage().data_ptr() not in inputs:
                self.bytes += tensor.untyped_storage().nbytes()
        if func._schema.name in COPY_OPS:
            self.copies += 1
        return out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(module, tp: int, calls: int, vocab: int, hidden: int, device: str = "cpu") -> dict:
    shell = harness.build_shell(module, vocab=vocab, hidden=hidden, num_centroids=2048, top_k=32,
                                tp=tp, dtype=torch.bfloat16, device=device)
    model = shell.model
    per_call, same = [], True
    previous = None  # kept alive, so that a new allocation cannot take its place
    with torch.no_grad():
        for _ in range(calls):
            counter = Allocations()
            with counter:
                weight = model._get_full_lm_head_weight()
            per_call.append(counter)
            if previous is not None:
                same = same and weight.data_ptr() == previous.data_ptr()
            previous = weight
        gathers = shell.tp.gathers
        del previous, weight
        shell.tp.uninstall(module)
        timed = harness.build_shell(module, vocab=vocab, hidden=hidden, num_centroids=2048,
                                    top_k=32, tp=tp, dtype=torch.bfloat16, device=device)
        times = []
        for _ in range(calls):
            sync(device)
            started = time.perf_counter()
            timed.model._get_full_lm_head_weight()
            sync(device)
            times.append(time.perf_counter() - started)
        timed.tp.uninstall(module)
    return {
        "gathers": gathers,
        "copies": sum(c.copies for c in per_call),
        "first": per_call[0].bytes,
        "next": sum(c.bytes for c in per_call[1:]) / max(1, calls - 1),
        "same": same,
        "us_first": times[0] * 1e6,
        "us_next": sum(times[1:]) / max(1, calls - 1) * 1e6,
    }


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n else "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=262144)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: time the calls on the GPU (synchronised around each call)")
    args = parser.parse_args()

    install = find_vllm()
    module = harness.import_mtp_module(cpu_platform=True)
    rows = [("as released", tp, measure(module, tp, args.calls, args.vocab, args.hidden, args.device))
            for tp in (1, 2)]
    outcomes = runtime.apply()
    label = "patched: " + ", ".join(f"{o.id} {o.outcome}" for o in outcomes if o.outcome != "skipped")
    rows += [(label if tp == 1 else "  (same)", tp,
              measure(module, tp, args.calls, args.vocab, args.hidden, args.device)) for tp in (1, 2)]

    print(f"vLLM {install.version if install else '?'}: Gemma4MTP._get_full_lm_head_weight, "
          f"{args.calls} calls, vocab {args.vocab} x hidden {args.hidden}, bfloat16, "
          f"{torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}")
    head = ("code", "TP", f"gathers/{args.calls}", f"copies/{args.calls}", "first bytes",
            "next bytes", "same storage", "first us", "next us")
    table = [head] + [
        (name, str(tp), str(m["gathers"]), str(m["copies"]), mib(m["first"]), mib(m["next"]),
         "yes" if m["same"] else "no", f"{m['us_first']:.0f}", f"{m['us_next']:.1f}")
        for name, tp, m in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
