"""The Gemma 4 MTP proof module of the catalogue (gemma4-mtp-stable-lm-head/gemma4_proof.py),
for the scenarios that build its model shell: ``from mtp import proof``."""

from vllm_patches.core.catalog import get_patch
from vllm_patches.verify.check_arm import load_check

proof = load_check(get_patch("gemma4-mtp-stable-lm-head").folder / "gemma4_proof.py",
                   "gemma4_proof")
build_shell, import_mtp_module = proof.build_shell, proof.import_mtp_module
