#!/usr/bin/env python3
"""Wall time of a full default GPU check (target: under 60 s on one H100).

Runs ``python -m vllm_patches verify ID... --set emulate_tp=true`` (both arms, both
scenarios of the Gemma 4 MTP checks, TP=2 emulated on one GPU) plus any arguments given
here, as a user would start it, and times it from the outside: interpreter start, the
imports in every process and the report included.

Usage (on a GPU machine):
  python3 benchmarks/verify_wall.py gemma4-mtp-stable-lm-head [--target DIR] [-o FILE]
Prints verify's own output, then the wall time; exits with verify's exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "vllm_patches", "verify", "--set", "emulate_tp=true", *argv]
    started = time.perf_counter()
    code = subprocess.call(command, env=env)
    wall = time.perf_counter() - started
    verdict = "within" if wall < TARGET_SECONDS else "OVER"
    print(f"\nbenchmark: {' '.join(command[1:])}")
    print(f"benchmark: wall time {wall:.1f} s ({verdict} the {TARGET_SECONDS:.0f} s target), "
          f"exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
