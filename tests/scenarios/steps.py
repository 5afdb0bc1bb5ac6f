"""Run the steps given on the command line, as a vLLM process would, and say
after each ``check`` which patches METHOD's class runs (scenarios/marks.py).

Steps:
  plugins   vllm.plugins.load_general_plugins(), as every vLLM process does
  register  vllm_patches.runtime.plugin.register(), five more times
  import    import METHOD's module (vllm.v1.engine.detokenizer)
  check     note the patch ids marked on its class's methods (none before import)
  fork      start a child with multiprocessing's fork method, as vLLM can start its
            workers; the child notes its pid and the patch ids it runs

Prints {"checks": [[ids...], ...], "forked": [{"pid", "patched"}...], "armed_by": [...],
"pid": PID}.
"""

import json
import os
import sys

from children import run_in_child
from marks import MODULE, patched_ids


def forked_child(queue) -> None:
    queue.put({"pid": os.getpid(), "patched": patched_ids()})


def main(steps: list[str]) -> dict:
    checks, forked = [], []
    for step in steps:
        if step == "plugins":
            from vllm.plugins import load_general_plugins

            load_general_plugins()
        elif step == "register":
            from vllm_patches.runtime import plugin
            for _ in range(5):
                plugin.register()
        elif step == "import":
            __import__(MODULE)
        elif step == "check":
            checks.append(patched_ids())
        elif step == "fork":
            forked.append(run_in_child("fork", forked_child))
        else:
            raise SystemExit(f"unknown step {step}")
    plugin = sys.modules.get("vllm_patches.runtime.plugin")
    return {"checks": checks, "forked": forked,
            "armed_by": list(plugin.armed_by()) if plugin else [], "pid": os.getpid()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
