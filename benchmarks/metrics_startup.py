"""What the metrics add to a vLLM process's start (target: at most 1 ms).

In a vLLM process the plugin is loaded and imports the catalogue, ``runtime.patcher`` and
``runtime.report`` to apply the patches, and vLLM imports prometheus_client; the metrics
add what runs on top: importing ``runtime.metrics``, ``armed()`` when vLLM is imported and
``record()`` once the patches are judged, which make the gauges and set them (one per
patch and state). Each sample is one fresh interpreter that imports what a vLLM process
has imported by then, then times exactly those calls with ``time.perf_counter``: the first
gauge, the first label, the first file of prometheus_client's multiprocess folder are all
inside it, as in a real start. The wall time is the figure; the CPU time of the thread
(``time.thread_time``) beside it shows how much of it is waiting for a core on a busy
machine. Three modes: the API server's (one process, default
registry), multiprocess (``PROMETHEUS_MULTIPROC_DIR``, the values in mmap'd files), and
``VLLM_PATCHES_METRICS=0``. The package is a byte-compiled copy, as pip installs it.

Usage: python benchmarks/metrics_startup.py [--runs 60]
Exit status 1 when a median is 1 ms or more.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_MS = 1.0

CHILD = r"""
import os
import time
import prometheus_client  # vLLM imports it in every process it starts
from vllm_patches.core.catalog import load_catalog
from vllm_patches.runtime import plugin, patcher, report  # loaded, and the apply path's
from vllm_patches.core.words import Outcome
from vllm_patches.runtime.patcher import Result

kinds = [Outcome.APPLIED, Outcome.SKIPPED, Outcome.APPLIED, Outcome.REFUSED, Outcome.APPLIED,
         Outcome.SKIPPED, Outcome.FAILED, Outcome.APPLIED]
outcomes = [Result(p.id, kinds[i % len(kinds)], "") for i, p in enumerate(load_catalog())]
start, cpu = time.perf_counter(), time.thread_time()
from vllm_patches.runtime import metrics
metrics.armed()
metrics.record(outcomes)
elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
registry = prometheus_client.REGISTRY
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # what vLLM's /metrics serves in that mode
    from prometheus_client import multiprocess
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
page = prometheus_client.generate_latest(registry).decode()
exported = sum(line.startswith(metrics.PREFIX) for line in page.splitlines())
assert metrics.__file__.startswith(os.environ["PYTHONPATH"]), metrics.__file__
print(elapsed * 1000, cpu * 1000, exported, len(outcomes))
"""


def sample(env: dict[str, str]) -> tuple[float, float, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, cwd=env["HOME"],
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="fresh processes per mode")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("VLLM_PATCHES", "PROMETHEUS_MULTIPROC_DIR", "PYTHON"))}
    over = False
    with tempfile.TemporaryDirectory(prefix="metrics-startup-") as tmp:
        base["PYTHONPATH"] = _installed(Path(tmp) / "site")
        base["HOME"] = tmp  # the child's folder: not this checkout, whose package would win
        modes = {
            "one process (the API server's registry)": lambda i: base,
            "multiprocess (PROMETHEUS_MULTIPROC_DIR)": lambda i: {
                **base, "PROMETHEUS_MULTIPROC_DIR": _folder(tmp, i)},
            "off (VLLM_PATCHES_METRICS=0)": lambda i: {**base, "VLLM_PATCHES_METRICS": "0"},
        }
        print(f"python {sys.version.split()[0]}, {args.runs} fresh processes per mode, "
              f"{os.cpu_count()} cores")
        # Round by round, one process of each mode, so that a machine that slows down or
        # speeds up on the way weighs on every mode alike.
        rounds = [{name: sample(env_of(i)) for name, env_of in modes.items()}
                  for i in range(args.runs)]
        for name in modes:
            runs = [r[name] for r in rounds]
            wall = sorted(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            median = statistics.median(wall)
            p90 = wall[int(len(wall) * 0.9) - 1]
            print(f"{name:41s} wall median {median:.3f} ms (p90 {p90:.3f}"
                  f"), CPU median {cpu:.3f} ms; {runs[0][3]} patches, {runs[0][2]} sample lines")
            over = over or median >= BUDGET_MS
    print(f"budget: {BUDGET_MS} ms per process start; " + ("OVER" if over else "within"))
    return 1 if over else 0


def _installed(site: Path) -> str:
    """This checkout's package copied into ``site`` and byte-compiled, its catalogue in it, as
    pip installs them."""
    shutil.copytree(REPO / "vllm_patches", site / "vllm_patches",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "patches", site / "vllm_patches" / "_catalog")
    compileall.compile_dir(str(site / "vllm_patches"), quiet=1)
    return str(site)


def _folder(tmp: str, i: int) -> str:
    """An empty multiprocess folder per process: each start makes its files, as in vLLM."""
    folder = os.path.join(tmp, str(i))
    os.makedirs(folder)
    return folder


if __name__ == "__main__":
    sys.exit(main())
