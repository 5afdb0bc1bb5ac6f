"""A parent that starts a worker with multiprocessing's ``spawn`` method, as
vLLM starts its workers: the worker calls ``load_general_plugins()`` (vLLM's
``WorkerWrapperBase.init_worker`` does), then imports the model module.

The parent imports no vLLM. Prints {"parent_pid", "parent_imported_vllm",
"worker": {"pid", "ppid", "patched": [ids]}}.
"""

import json
import os
import sys

from children import run_in_child
from marks import MODULE, patched_ids


def worker(queue) -> None:
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    __import__(MODULE)
    queue.put({"pid": os.getpid(), "ppid": os.getppid(), "patched": patched_ids()})


if __name__ == "__main__":
    result = run_in_child("spawn", worker)
    print(json.dumps({"parent_pid": os.getpid(), "parent_imported_vllm": "vllm" in sys.modules,
                      "worker": result}))
