"""A catalogued fix that raises while the hook installs it.

``runtime.fix_functions`` (which builds the fix's methods) is replaced by one
that raises, standing in for a broken fix. Then, as a vLLM process does:
``load_general_plugins()`` and an import of the model module.

Prints {"imported": bool, "error": "ExcType: message" or null, "patched": [ids],
"still_running": true}.
"""

import json

from marks import MODULE, patched_ids


def broken_fix(*args, **kwargs):
    raise RuntimeError("broken fix")


if __name__ == "__main__":
    from vllm_patches import runtime

    runtime.fix_functions = broken_fix
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    imported, error = True, None
    try:
        __import__(MODULE)
    except Exception as exc:
        imported, error = False, f"{type(exc).__name__}: {exc}"
    print(json.dumps({"imported": imported, "error": error, "patched": patched_ids(),
                      "still_running": True}))
