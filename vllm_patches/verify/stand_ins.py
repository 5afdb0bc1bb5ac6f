"""Deprecated: ``vllm_patches.verify.kit`` holds the stand-ins now (this module goes in the
next release)."""

import sys

from vllm_patches.verify import messages
from vllm_patches.verify.kit.stand_ins import (  # noqa: F401  (the old names, kept)
    BACKENDS,
    StandInModule,
    _Finder,
    stand_in_for_missing,
)

print(messages.stand_ins_moved(), file=sys.stderr)
