"""How long `vllm-patches catalog fingerprint` takes over 10 cached releases (target: well
under a minute).

Writes a patch with `catalog new` into a temporary catalogue (two targets in two modules:
vLLM's check_stop_strings and Scheduler.schedule, the scheduler module being one of vLLM's
largest), makes sure the 10 releases 0.20.2..0.27.0 are in the release cache, then times
the whole command, a fresh interpreter each run, as a user runs it. The list of releases on
PyPI is cached for a day, so one run that has to ask pip for it is timed apart.

    python benchmarks/fingerprint_speed.py [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vllm_patches.core.release_index import _list_path, parse_releases  # noqa: E402
from vllm_patches.core.releases import release_tree  # noqa: E402

RANGE = "0.20.2..0.27.0"
TARGETS = ("vllm.v1.engine.detokenizer:check_stop_strings",
           "vllm.v1.core.sched.scheduler:Scheduler.schedule")


def cli(*args: str) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vllm_patches", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    versions = parse_releases(RANGE)
    for version in versions:
        release_tree(version)  # fetched once; the timing is of the cached case
    with tempfile.TemporaryDirectory() as tmp:
        targets = [a for t in TARGETS for a in ("--function", t)]
        cli("catalog", "new", "bench", "--into", tmp, *targets)
        command = ("catalog", "fingerprint", "bench", "--catalog", tmp, "--releases", RANGE,
                   "--fixed-in", "0.27.0", "--dry-run")
        _list_path().unlink(missing_ok=True)
        cold = cli(*command)  # asks pip for vLLM's releases, then caches the list
        samples = [cli(*command) for _ in range(args.runs)]
    print(f"catalog fingerprint, {len(versions)} cached releases ({versions[0]}..{versions[-1]}), "
          f"{len(TARGETS)} targets in 2 modules:")
    print(f"  median {statistics.median(samples):.2f} s wall (min {min(samples):.2f}, "
          f"max {max(samples):.2f}, {args.runs} runs); target: well under 60 s")
    print(f"  first run of the day (pip index versions vllm, then cached): {cold:.2f} s")


if __name__ == "__main__":
    main()
