"""The plugin's import hook and a reload: ``VLLM_PATCHES`` names the synthetic function wrap
(tests/synthetic.py, its catalogue named by VLLM_PATCHES_CATALOG); the hook applies it when
its module is imported; after ``importlib.reload`` of the module, ``plugin.watch()`` (as
``verify`` calls it between checks) applies it again. Prints one JSON object.
"""

import importlib
import json

from tests.synthetic import FUNCTION
from vllm_patches.runtime import patcher as runtime
from vllm_patches.runtime import plugin


def state(module) -> list:
    """Applied, the function marked, what it answers."""
    return [runtime.is_applied(FUNCTION.id), runtime.is_marked(getattr(module, FUNCTION.name)),
            module.round_up(5, 4)]


plugin.register()
module = importlib.import_module(FUNCTION.module)  # the hook fires here
out = {"hooked": state(module)}
importlib.reload(module)
out["reloaded"] = state(module)
plugin.watch()
out["watched"] = state(module)
print(json.dumps(out))
