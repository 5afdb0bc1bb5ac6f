"""Run code against a real vLLM tree in a fresh interpreter.

Each scenario runs in a subprocess with the release tree and this checkout
first on ``PYTHONPATH``, so the vLLM under test is exactly that release and
the vllm_patches under test is exactly this checkout. A scenario prints one
JSON object on its last line of stdout; ``run_scenario`` returns it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def python_env(*paths: Path | str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VLLM_PATCHES", None)
    env.pop("VLLM_PATCHES_STRICT", None)
    env.pop("VLLM_PATCHES_VLLM_VERSION", None)
    env.pop("VLLM_PATCHES_REPORT", None)
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), str(REPO)])
    env.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    env.update(extra)
    return env


def run_python(args: list[str], *paths: Path | str, timeout: float = 300, check: bool = True,
               interpreter: str = sys.executable, **extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([interpreter, *args], env=python_env(*paths, **extra),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def run_scenario(name: str, tree: Path | str, *args: str, **extra: str) -> dict:
    """Run ``tests/scenarios/<name>.py`` against ``tree``; its last stdout line as JSON."""
    proc = run_python([str(SCENARIOS / f"{name}.py"), *args], tree, **extra)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(*args: str, paths: tuple = (), check: bool = False, **extra: str):
    """``python -m vllm_patches ARGS`` from this checkout."""
    return run_python(["-m", "vllm_patches", *args], *paths, check=check, **extra)
