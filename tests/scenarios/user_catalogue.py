"""A user catalogue at run time: VLLM_PATCHES_CATALOG names it, the plugin applies its patch
when vLLM's module is imported, as in every vLLM process. Prints one JSON object."""

import json

from vllm_patches.runtime import plugin

from vllm_patches.runtime import patcher as runtime
plugin.register()
from vllm.v1.engine import detokenizer  # noqa: E402  the plugin's import hook fires here

func = detokenizer.check_stop_strings
print(json.dumps({"mark": runtime.mark_of(func),
                  "applied": [p for p in ("acme-stop", "stop-string-earliest-match")
                              if runtime.is_applied(p)]}))
