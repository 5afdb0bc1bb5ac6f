"""``python -m vllm_patches.verify.kit DIR``: write the kit's tiny Llama, weights and all, into
DIR (what the end-to-end tests serve)."""

import sys

from vllm_patches.verify.kit.model import main

sys.exit(main(sys.argv[1:]))
