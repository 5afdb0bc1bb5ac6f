"""How long `vllm-patches status` takes with vLLM present (target: under 100 ms wall).

Runs each command N times in a fresh interpreter and prints the median and the
spread. vLLM 0.22.1's real release tree is put on PYTHONPATH (with its
dist-info), as an installed vLLM would be; `status` must read it without
importing torch or vLLM.

    python benchmarks/status_speed.py [--runs 30]
"""

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vllm_patches.core.releases import release_tree

REPO = Path(__file__).resolve().parent.parent


def time_command(cmd, env, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples), max(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    tree = release_tree("0.22.1")
    # pip byte-compiles a package when it installs it; an editable checkout (and a
    # shell with PYTHONDONTWRITEBYTECODE set) would compile every module on every run.
    compileall.compile_dir(str(REPO / "vllm_patches"), quiet=1)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(REPO)]))
    # The console script beside this interpreter (not a pyenv shim on PATH).
    script = Path(sys.executable).parent / "vllm-patches"
    script = str(script) if script.exists() else shutil.which("vllm-patches")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -m vllm_patches status", [sys.executable, "-m", "vllm_patches", "status"]),
        ("python -m vllm_patches status --json",
         [sys.executable, "-m", "vllm_patches", "status", "--json"]),
    ]
    if script:
        rows.append(("vllm-patches status (console script)", [script, "status"]))
    print(f"vLLM 0.22.1 on PYTHONPATH, {args.runs} runs each, {os.cpu_count()} cores")
    print(f"{'command':42} {'median ms':>10} {'min':>7} {'max':>7}")
    for name, cmd in rows:
        med, lo, hi = time_command(cmd, env, args.runs)
        print(f"{name:42} {med:10.1f} {lo:7.1f} {hi:7.1f}")


if __name__ == "__main__":
    main()
