"""Something that raises inside the import hook.

``patch_raises.py fix``: ``runtime.fix_functions`` (which builds the fix's
methods) raises, standing in for a broken fix. ``patch_raises.py hook``: the
plugin's own step that picks the patches to apply raises, standing in for a
bug in vllm-patches. Then, as a vLLM process does: ``load_general_plugins()``
and an import of the model module.

Prints {"imported": bool, "error": "ExcType: message" or null, "patched": [ids],
"still_running": true}.
"""

import json
import sys

from marks import MODULE, patched_ids


def broken_fix(*args, **kwargs):
    raise RuntimeError("broken fix")


if __name__ == "__main__":
    from vllm_patches.runtime import patcher as runtime
    from vllm_patches.runtime import plugin
    if sys.argv[1] == "fix":
        runtime.fix_functions = broken_fix
    else:
        plugin._due = broken_fix
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    imported, error = True, None
    try:
        __import__(MODULE)
    except Exception as exc:
        imported, error = False, f"{type(exc).__name__}: {exc}"
    print(json.dumps({"imported": imported, "error": error, "patched": patched_ids(),
                      "still_running": True}))
