"""A patch with two target modules, one of which imports the other partway through its own
import: vllm.v1.engine.input_processor imports backend_xgrammar before it defines
InputProcessor (as vLLM's server path imports them). Strict mode: a patch applied too early
would raise. Prints {"applied": bool, "error": str|null}."""

import json

from vllm_patches.runtime import plugin
from vllm_patches.verify.kit import stand_in_for_missing

stand_in_for_missing()
plugin.register()
error = None
try:
    import vllm.v1.engine.input_processor  # noqa: F401
except Exception as exc:  # what strict mode raises for a patch applied too early
    error = f"{type(exc).__name__}: {exc}"
from vllm_patches.runtime import patcher  # noqa: E402

print(json.dumps({"applied": patcher.is_applied("structured-outputs-regex-nul"), "error": error}))
