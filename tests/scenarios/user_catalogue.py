"""A user catalogue at run time: VLLM_PATCHES_CATALOG names it, the plugin applies its patch
when vLLM's module is imported, as in every vLLM process. Prints one JSON object:
{"mark", "applied", "error": "Type: message" or null}.

The process may use 8 GiB of data at most: a catalogue file that is a link to /dev/zero
then ends in a MemoryError here instead of eating the test machine's memory."""

import json
import resource

_, _hard = resource.getrlimit(resource.RLIMIT_DATA)
resource.setrlimit(resource.RLIMIT_DATA, (8 << 30 if _hard == resource.RLIM_INFINITY
                                          else min(8 << 30, _hard), _hard))

from vllm_patches.runtime import patcher as runtime  # noqa: E402
from vllm_patches.runtime import plugin  # noqa: E402

plugin.register()
error, mark = None, None
try:
    from vllm.v1.engine import detokenizer  # the plugin's import hook fires here

    mark = runtime.mark_of(detokenizer.check_stop_strings)
except Exception as exc:  # strict mode: the import fails
    error = f"{type(exc).__name__}: {exc}"
print(json.dumps({"mark": mark,
                  "applied": [p for p in ("acme-stop", "stop-string-earliest-match")
                              if runtime.is_applied(p)],
                  "error": error}))
