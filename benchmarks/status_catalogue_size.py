"""Does `vllm-patches status` grow with the catalogue? (target: 20 more patches <= 1.5x)

Writes a user catalogue of N patches (default 20) over 8 vLLM modules with
`vllm-patches catalog new --release 0.22.1`, exactly as a user would (each wraps a
different real function; the wrappers change nothing), then times, in fresh interpreters:

  python -c pass                          the interpreter alone
  status                                  the built-in catalogue
  status --catalog GEN                    built-in + N user patches, shape cache warm
  status --catalog GEN (no shape cache)   the same, VLLM_PATCHES_SHAPE_CACHE=0

against vLLM 0.22.1's real release tree on PYTHONPATH, as an installed vLLM would be.
Prints the median and spread of each, and the ratios.

    python benchmarks/status_catalogue_size.py [--runs 20] [--patches 20]
"""

import argparse
import ast
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vllm_patches.core.releases import release_tree

REPO = Path(__file__).resolve().parent.parent
RELEASE = "0.22.1"
MODULES = (  # 8 modules that fixes touch, small and large
    "vllm.sampling_params",
    "vllm.v1.core.sched.scheduler",
    "vllm.v1.engine.detokenizer",
    "vllm.v1.engine.input_processor",
    "vllm.v1.engine.output_processor",
    "vllm.v1.core.kv_cache_manager",
    "vllm.v1.structured_output.backend_xgrammar",
    "vllm.v1.worker.gpu_model_runner",
)


def targets(tree: Path, count: int) -> list[str]:
    """``count`` real functions spread over MODULES: methods of each module's first class
    that is defined there, and module-level functions, round robin."""
    per_module = []
    for module in MODULES:
        text = (tree / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        found = []
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("__"):
                found.append(f"{module}:{node.name}")
            elif isinstance(node, ast.ClassDef):
                found += [f"{module}:{node.name}.{m.name}" for m in node.body
                          if isinstance(m, ast.FunctionDef) and not m.decorator_list
                          and not m.name.startswith("__")]
        per_module.append(found)
    chosen = []
    while len(chosen) < count:
        for found in per_module:
            if found and len(chosen) < count:
                chosen.append(found.pop(0))
    return chosen


def write_catalogue(folder: Path, tree: Path, count: int) -> None:
    for i, spec in enumerate(targets(tree, count)):
        subprocess.run([sys.executable, "-m", "vllm_patches", "catalog", "new", f"gen-{i:02d}",
                        "--into", str(folder), "--release", RELEASE, "--function", spec],
                       check=True, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))


def time_command(cmd, env, runs):
    """Median, min and max wall ms, and median CPU ms (user + system of the child: what a
    loaded machine does not inflate)."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return statistics.median(walls), min(walls), max(walls), statistics.median(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--patches", type=int, default=20)
    args = parser.parse_args()
    tree = release_tree(RELEASE)
    compileall.compile_dir(str(REPO / "vllm_patches"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        gen = Path(tmp) / "generated"
        write_catalogue(gen, tree, args.patches)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(REPO)]),
                   VLLM_PATCHES_CACHE=str(Path(tmp) / "cache"))
        env.pop("VLLM_PATCHES_CATALOG", None)
        status = [sys.executable, "-m", "vllm_patches", "status"]
        # Warm the shape cache once, as any earlier status run would.
        subprocess.run(status + ["--catalog", str(gen)], env=env, stdout=subprocess.DEVNULL)
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"], env),
            ("status (built-in catalogue)", status, env),
            (f"status --catalog (+{args.patches} patches)", status + ["--catalog", str(gen)], env),
            (f"status --catalog (+{args.patches}), no shape cache",
             status + ["--catalog", str(gen)], dict(env, VLLM_PATCHES_SHAPE_CACHE="0")),
        ]
        print(f"vLLM {RELEASE} on PYTHONPATH, {args.runs} runs each, {os.cpu_count()} cores, "
              f"{args.patches} generated patches over {len(MODULES)} modules")
        print(f"{'command':46} {'wall ms':>8} {'min':>7} {'max':>7} {'CPU ms':>7}")
        medians = {}
        for name, cmd, e in rows:
            med, lo, hi, cpu = time_command(cmd, e, args.runs)
            medians[name] = cpu
            print(f"{name:46} {med:8.1f} {lo:7.1f} {hi:7.1f} {cpu:7.1f}")
        print("ratios of median CPU time:")
        base = medians["status (built-in catalogue)"]
        bare = medians["python -c pass"]
        for name, med in medians.items():
            if name not in ("python -c pass", "status (built-in catalogue)"):
                print(f"{name}: {med / base:.2f}x the built-in status")
        print(f"status (built-in) / python -c pass: {base / bare:.1f}x")


if __name__ == "__main__":
    main()
