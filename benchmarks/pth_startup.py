"""What the opt-in .pth hook costs at interpreter start-up (target: under 5 ms).

Makes two clean virtual environments with vllm-patches copied into their
site-packages (byte-compiled, as pip installs it), writes the hook's .pth into
one of them with ``vllm_patches.runtime.hookfile.install``, then times ``python -c pass``
in both, alternating, and prints the medians and their difference. It also
prints the hook's own import time as ``-X importtime`` reports it.

Usage: python benchmarks/pth_startup.py [--runs 300]
Exit status 1 when the median overhead is 5 ms or more.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_MS = 5.0


def make_env(folder: Path) -> Path:
    """A venv (no pip, no system site-packages) with vllm_patches installed; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    dest = Path(purelib) / "vllm_patches"
    shutil.copytree(REPO / "vllm_patches", dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    compileall.compile_dir(str(dest), quiet=1)
    return python


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VLLM_PATCHES"))}
    return env


def time_start(python: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(python), "-c", "pass"], env=env, check=True)
    return (time.perf_counter() - start) * 1000


def hook_import_ms(python: Path, env: dict[str, str], runs: int) -> float:
    """Median of the hook's modules' own import time, from ``-X importtime``."""
    totals = []
    for _ in range(runs):
        err = subprocess.run([str(python), "-X", "importtime", "-c", "pass"], env=env,
                             capture_output=True, text=True, check=True).stderr
        micros = 0
        for line in err.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2].startswith("vllm_patches"):
                micros += int(parts[0].split(":")[1])
        totals.append(micros / 1000)
    return statistics.median(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="start-ups per environment")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from vllm_patches.runtime import hookfile
    with tempfile.TemporaryDirectory(prefix="pth-startup-") as tmp:
        plain = make_env(Path(tmp) / "plain")
        hooked = make_env(Path(tmp) / "hooked")
        site = subprocess.run(
            [str(hooked), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip()
        hookfile.install(site)
        env = clean_env()
        check = subprocess.run(
            [str(hooked), "-c",
             "import sys; print(sys.modules['vllm_patches.runtime.plugin'].armed_by())"],
            env=env, capture_output=True, text=True)
        if check.stdout.strip() != "('pth',)":
            print(f"the hook did not arm: {check.stdout}{check.stderr}", file=sys.stderr)
            return 2

        for python in (plain, hooked):  # warm the file cache
            for _ in range(10):
                time_start(python, env)
        base, with_hook = [], []
        for _ in range(args.runs):
            base.append(time_start(plain, env))
            with_hook.append(time_start(hooked, env))
        own = hook_import_ms(hooked, env, min(args.runs, 100))

    base_ms, hook_ms = statistics.median(base), statistics.median(with_hook)
    overhead = hook_ms - base_ms
    print(f"python {sysconfig.get_python_version()}, {args.runs} start-ups each, medians:")
    print(f"  python -c pass, no hook:    {base_ms:6.2f} ms")
    print(f"  python -c pass, .pth hook:  {hook_ms:6.2f} ms")
    print(f"  overhead:                   {overhead:6.2f} ms  (budget {BUDGET_MS:.0f} ms)")
    print(f"  hook's own import time:     {own:6.2f} ms  (-X importtime, vllm_patches modules)")
    return 0 if overhead < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
