"""A worker started with ``spawn``, as vLLM starts its workers: it calls vLLM's own
``load_general_plugins()``, then imports the V1 detokenizer. The user patches to expect come
from an installed package's ``vllm_patches.catalogs`` entry point (or VLLM_PATCHES_CATALOG).

Prints {"worker": {"pid", "mark", "applied": [ids], "exitcode"}}.
"""

import json
import os
import sys

from children import run_in_child

IDS = sys.argv[1].split(",")


def worker(queue) -> None:
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    from vllm.v1.engine import detokenizer

    from vllm_patches.runtime import patcher

    queue.put({"pid": os.getpid(), "mark": patcher.mark_of(detokenizer.check_stop_strings),
               "applied": [i for i in IDS if patcher.is_applied(i)]})


if __name__ == "__main__":
    print(json.dumps({"worker": run_in_child("spawn", worker)}))
