"""What stop-string-earliest-match costs on the hot path (target: <= 5% or <= 1 us a call).

vLLM calls ``check_stop_strings`` for every request at every step that has stop
strings. This times vLLM's own function (0.26.0's real release tree) against the same
function with the fix applied at run time (``vllm_patches.runtime.apply``), at realistic
sizes: a few hundred to a few thousand characters of output, one to several new
characters a step (more with speculative decoding), one to eight stop strings, none of
which matches (the common case: every step but the last).

    python benchmarks/stop_strings_overhead.py [--release 0.26.0]
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, timeit
from vllm.v1.engine import detokenizer
from vllm_patches.runtime import patcher

CASES = [  # (output length, new chars a step, stop strings)
    (300, 4, ["</s>"]),
    (2000, 4, ["</s>", "\nUser:", "###"]),
    (2000, 24, ["</s>", "\nUser:", "###", "<|im_end|>"]),  # speculative decoding
    (8000, 4, ["</s>", "\nUser:", "###", "<|im_end|>", "Q:", "A:", "\n\n\n", "STOP"]),
]

def bench(func, text, new, stop, number):
    best = min(timeit.repeat(lambda: func(text, new, stop, False), number=number, repeat=7))
    return best / number * 1e6

original = detokenizer.check_stop_strings
[outcome] = patcher.apply(["stop-string-earliest-match"])
assert outcome.outcome == "applied", outcome
patched = detokenizer.check_stop_strings
assert patched is not original
rows = []
for length, new, stop in CASES:
    text = ("lorem ipsum dolor sit amet " * (length // 27 + 1))[:length]
    times = {"unpatched": [], "patched": []}
    for _ in range(3):  # alternate, so that load on the machine hits both alike
        times["unpatched"].append(bench(original, text, new, stop, 20000))
        times["patched"].append(bench(patched, text, new, stop, 20000))
    rows.append({"case": f"{length} chars, {new} new, {len(stop)} stop strings",
                 **{k: min(v) for k, v in times.items()}})
print(json.dumps(rows))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="0.26.0")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from vllm_patches.core.releases import release_tree

    tree = release_tree(args.release)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(REPO)]),
               VLLM_LOGGING_LEVEL="ERROR")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                         capture_output=True, text=True).stdout
    import json

    rows = json.loads(out.strip().splitlines()[-1])
    print(f"check_stop_strings, vLLM {args.release}, best of 3 x 7 x 20000 calls, alternating, "
          "us per call")
    print(f"{'case':48} {'vLLM':>7} {'patched':>8} {'over':>7} {'over %':>7}")
    for r in rows:
        over = r["patched"] - r["unpatched"]
        print(f"{r['case']:48} {r['unpatched']:7.3f} {r['patched']:8.3f} {over:7.3f} "
              f"{100 * over / r['unpatched']:6.1f}%")


if __name__ == "__main__":
    main()
