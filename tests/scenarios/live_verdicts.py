"""The runtime's verdict about every catalogued patch, for several versions of one module.

Usage: live_verdicts.py CASES.json, where CASES.json is a list of
``{"name", "module", "file" (a variant of that module's text, or null for the release's
own), "version" (an override, or null), "ids" (the patches to judge)}``. Each variant is executed as the target module (as an
``importlib.reload`` would), then ``runtime.examine`` judges the classes that run. Prints
``{name: {patch id: state}}`` as JSON on its last line.
"""

import importlib.util
import json
import os
import sys

from vllm_patches.runtime import patcher as runtime
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.kit import stand_in_for_missing

stand_in_for_missing()  # the scheduler and front end import the backends at load
from vllm_patches.core.detect import VERSION_ENV

cases = json.load(open(sys.argv[1]))
out = {}
for case in cases:
    os.environ.pop(VERSION_ENV, None)
    if case["version"]:
        os.environ[VERSION_ENV] = case["version"]
    modules = {t.module for p in load_catalog() for t in p.targets}
    for name in modules:
        sys.modules.pop(name, None)
    if case["file"]:
        name = case["module"]
        spec = importlib.util.spec_from_file_location(name, case["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    out[case["name"]] = {p.id: str(runtime.examine(p)[0].state) for p in load_catalog()
                         if p.id in case["ids"]}
print(json.dumps(out))
