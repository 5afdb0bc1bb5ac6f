"""A vLLM process on a release that has most fixes upstream: the plugin arms, vLLM imports
``sampling_params`` and the V1 detokenizer (three catalogued patches target them), then
``apply`` is called twice more for ``ids`` given on the command line, as a host process
might. The log lines on stderr are the test's; prints {"outcomes": {id: outcome}}."""

import json
import sys

from vllm_patches.runtime import patcher as runtime
from vllm_patches.runtime import plugin

plugin.register()
import vllm.sampling_params  # noqa: E402,F401  the plugin's import hook fires here
from vllm.v1.engine import detokenizer  # noqa: E402,F401

outcomes = {}
for _ in range(2):
    outcomes = {o.id: o.outcome for o in runtime.apply(sys.argv[1:])} if sys.argv[1:] else {}
print(json.dumps({"outcomes": outcomes}))
