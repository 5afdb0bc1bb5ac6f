"""Deprecated: ``python -m vllm_patches.verify.kit DIR`` writes the tiny Llama now
(the check kit's); this script says so and runs it, until the next release."""

import sys

from vllm_patches.verify.kit.model import main

if __name__ == "__main__":
    print("vllm-patches: tests/tiny_model.py is deprecated and goes in the next release; "
          "run python -m vllm_patches.verify.kit DIR.", file=sys.stderr)
    sys.exit(main(sys.argv[1:]))
