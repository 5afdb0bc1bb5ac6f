"""One arm of a patch's own behaviour check, in a process of its own.

``python -m vllm_patches.verify.check_arm PATCH_ID ARM CHECK_PY`` runs ``run()`` of the
patch's ``check.py`` against the vLLM on ``sys.path``:

- ``control``: vLLM's code as it is (``VLLM_PATCHES=none``: nothing patches it);
- ``patched``: the fix put in the production way: the plugin's ``register()``
  arms the import hook for this patch alone, so the fix goes in when the check
  imports vLLM's module (or it is already in the source).

Prints one JSON line ``{"arm", "patch", "bug", "detail", "outcomes"}``, or
``{"arm", "patch", "error"}`` when the check could not run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def main(argv: list[str]) -> int:
    patch_id, arm, check_path = argv
    line = {"arm": arm, "patch": patch_id}
    try:
        if arm == "patched":
            os.environ["VLLM_PATCHES"] = patch_id
            os.environ["VLLM_PATCHES_STRICT"] = "1"  # a fix that cannot go in is an error here
            from vllm_patches.runtime import plugin
            plugin.register(via="verify")
        spec = importlib.util.spec_from_file_location(f"vllm_patches_check_{arm}", check_path)
        check = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(check)
        result = check.run()
        if not isinstance(result, dict) or not isinstance(result.get("bug"), bool):
            raise TypeError(f"{check_path}: run() must return a dict with a bool 'bug'")
        line.update(bug=result["bug"], detail=str(result.get("detail", "")))
        from vllm_patches.runtime import patcher as runtime
        line["outcomes"] = {p: "applied" for p in [patch_id] if runtime.is_applied(p)}
    except BaseException as exc:  # the parent reports it; the process must still print
        line["error"] = f"{type(exc).__name__}: {exc}"
        line["trace"] = traceback.format_exc(limit=6)
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
