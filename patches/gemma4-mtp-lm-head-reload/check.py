"""On a CUDA GPU, TP > 1: vLLM 0.23.0 and later keep the all-gathered lm_head weight
for the centroid CUDA graphs, but Gemma4MTP.load_weights drops it, so graphs captured
before a weight reload read freed memory.

Control (0.23.0 and later as released), reload scenario: after new weights and
load_weights, graph replay crashes or gives token ids that differ from eager (0.28.0,
0.33.0: none identical). Patched: replay gives exactly eager's token ids at every size.
The proof is the one of gemma4-mtp-stable-lm-head, whose fix this patch shares
(fix-from); its parameters are the same (see that check.py), reload the scenario.
"""

from pathlib import Path

from vllm_patches.verify.check_arm import load_check

DEVICE = "cuda"
PARAMETERS = {"scenario": "reload", "tp": 2, "emulate_tp": False,
              "sizes": (1, 2, 3, 4, 8, 16, 32, 64, 65), "trials": 5,
              "vocab": 262144, "hidden": 256, "device": DEVICE}

SHARED = Path(__file__).resolve().parent.parent / "gemma4-mtp-stable-lm-head"
proof = load_check(SHARED / "gemma4_proof.py", "gemma4_proof")
scenario, rank_scenario = proof.scenario, proof.rank_scenario  # what its processes run


def run(**parameters) -> dict:
    return proof.run_check(__file__, **parameters)
