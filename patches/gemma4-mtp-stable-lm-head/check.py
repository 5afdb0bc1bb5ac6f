"""On a CUDA GPU, TP > 1: Gemma4Proposer's centroid CUDA graphs read the all-gathered
lm_head weight, which vLLM frees right after capture.

Control (0.21.0-0.22.1 as released): once the engine empties the allocator cache and
allocates its KV cache, graph replay crashes (an illegal memory access) or differs from
eager, in both scenarios (capture; reload: new weights and load_weights after capture).
Patched: replay gives exactly eager's token ids at every size. How: gemma4_proof.py.

Parameters (vllm-patches verify --set NAME=VALUE): scenario (all, capture, reload);
tp (emulated on one GPU where there are fewer GPUs, or with emulate_tp=true); sizes (up
to 64 replay the smallest captured graph that fits, above it vLLM's eager fallback
runs); trials; vocab and hidden (the Gemma 4 assistant's); device (cpu: the graphs
emulated on the CPU, for tests).
"""

from pathlib import Path

from vllm_patches.verify.check_arm import load_check

DEVICE = "cuda"
PARAMETERS = {"scenario": "all", "tp": 2, "emulate_tp": False,
              "sizes": (1, 2, 3, 4, 8, 16, 32, 64, 65), "trials": 5,
              "vocab": 262144, "hidden": 256, "device": DEVICE}

proof = load_check(Path(__file__).with_name("gemma4_proof.py"), "gemma4_proof")
scenario, rank_scenario = proof.scenario, proof.rank_scenario  # what its processes run


def run(**parameters) -> dict:
    return proof.run_check(__file__, **parameters)
