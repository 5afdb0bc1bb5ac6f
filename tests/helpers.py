"""Run code against a real vLLM tree in a fresh interpreter.

Each scenario runs in a subprocess with the release tree and this checkout
first on ``PYTHONPATH``, so the vLLM under test is exactly that release and
the vllm_patches under test is exactly this checkout. A scenario prints one
JSON object on its last line of stdout; ``run_scenario`` returns it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vllm_patches.core.childenv import child_env

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def python_env(*paths: Path | str, **extra: str) -> dict[str, str]:
    """A test's child: ``paths`` and this checkout on its path, not the runner's own path
    (``core.childenv`` decides which vllm-patches settings it keeps)."""
    return child_env(*paths, inherit_path=False, **extra)


def run_python(args: list[str], *paths: Path | str, timeout: float = 300, check: bool = True,
               interpreter: str = sys.executable, preload: bool = False,
               **extra: str) -> subprocess.CompletedProcess:
    """``interpreter ARGS`` with ``paths`` and this checkout on its path. ``preload``: forked
    from the server that imported torch once, as ``verify`` starts its CPU checks (for a
    process that imports vLLM and does not test interpreter start-up itself)."""
    argv, env = [interpreter, *args], python_env(*paths, **extra)
    if preload:
        proc = _preloaded(argv, env, timeout)
    else:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def _preloaded(argv: list[str], env: dict[str, str],
               timeout: float) -> subprocess.CompletedProcess:
    from vllm_patches.verify.jobs import Job, run_all

    [done] = run_all([Job("test", "run_python", argv, env, preload=True)], timeout)
    if done.timed_out:
        raise subprocess.TimeoutExpired(argv, timeout, done.stdout, done.stderr)
    return subprocess.CompletedProcess(argv, done.returncode, done.stdout, done.stderr)


def run_scenario(name: str, tree: Path | str, *args: str, preload: bool = True,
                 **extra: str) -> dict:
    """Run ``tests/scenarios/<name>.py`` against ``tree``; its last stdout line as JSON."""
    proc = run_python([str(SCENARIOS / f"{name}.py"), *args], tree, preload=preload, **extra)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(*args: str, paths: tuple = (), check: bool = False, **extra: str):
    """``python -m vllm_patches ARGS`` from this checkout."""
    return run_python(["-m", "vllm_patches", *args], *paths, check=check, **extra)


def cli_runner():
    """A click CliRunner that keeps stderr apart (the default from click 8.2 on; before it,
    ``mix_stderr=False``): the lowest click pyproject.toml allows runs these tests too."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()
