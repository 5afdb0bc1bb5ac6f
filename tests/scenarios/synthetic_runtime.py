"""Runtime mode on the synthetic catalogue (tests/synthetic.py, named by VLLM_PATCHES_CATALOG)
on a real release: for each patch, apply, apply again, revert, revert again, take_out, what
its function answers at each step and what the class or module holds after; then, on the
method wrap and the function wrap, eight threads at once, a fork's change (refused, strict,
forced), a reload of the module, from-imported copies, and verdicts under version labels.

Prints one JSON object.
"""

import importlib
import json
import os
import sys
import threading
import types

import vllm_patches
from tests.synthetic import FIXED, FUNCTION, METHOD, SPECS
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.detect import VERSION_ENV
from vllm_patches.runtime import patcher as runtime

PROBES = {  # what each patched function answers, where a test can see the fix
    METHOD.id: lambda m: m.IncrementalDetokenizer().num_output_tokens(),
    FUNCTION.id: lambda m: m.round_up(5, 4),
    FIXED.id: lambda m: m.SamplingParams()._verify_greedy_sampling(),
}


def module_of(spec):
    return sys.modules.get(spec.module) or importlib.import_module(spec.module)


def scope_of(spec):
    module = module_of(spec)
    return module if spec.class_name is None else getattr(module, spec.class_name)


def probe(spec):
    return PROBES[spec.id](module_of(spec)) if spec.id in PROBES else None


def ours(spec) -> list[str]:
    """The names of ours the scope holds (renamed originals, the fix's own methods)."""
    return sorted(n for n in vars(scope_of(spec)) if n.startswith("_vllm_patches"))


def outcome(results) -> str:
    [result] = results
    return result.outcome


def one(spec) -> dict:
    scope, out = scope_of(spec), {}
    original = vars(scope)[spec.name]
    out["before"] = probe(spec)
    out["apply"] = outcome(vllm_patches.apply([spec.id]))
    out["marked"] = runtime.is_marked(vars(scope)[spec.name])
    out["after"] = probe(spec)
    out["names"] = ours(spec)
    out["verdict"] = str(runtime.examine(get_patch(spec.id))[0].state)
    out["again"] = outcome(vllm_patches.apply([spec.id]))
    out["revert"] = outcome(vllm_patches.revert([spec.id]))
    out["revert_again"] = outcome(vllm_patches.revert([spec.id]))
    out["back"] = vars(scope)[spec.name] is original
    out["names_after_revert"] = ours(spec)
    out["after_revert"] = probe(spec)
    vllm_patches.apply([spec.id])
    taken = runtime.take_out(get_patch(spec.id))
    out["take_out"] = [taken.outcome.outcome, taken.left, taken.clean]
    taken = runtime.take_out(get_patch(spec.id))
    out["take_out_again"] = [taken.outcome.outcome, taken.left, taken.clean]
    return out


def threads(spec) -> list[str]:
    """Eight threads apply at once: one applies, the others find it applied."""
    results, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        results.extend(o.outcome for o in vllm_patches.apply([spec.id]))

    started = [threading.Thread(target=worker) for _ in range(8)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    vllm_patches.revert([spec.id])
    return sorted(results)


def fork_change(spec) -> dict:
    """A fork replaced the function: refused (naming it), strict raises, force wraps the
    fork's code, revert puts the fork's code back."""
    scope, out = scope_of(spec), {}
    original = vars(scope)[spec.name]

    def forks_own(*args, **kwargs):  # a fork's own version
        return "fork"

    forks_own.__name__ = forks_own.__qualname__ = spec.name
    setattr(scope, spec.name, forks_own)
    refused = vllm_patches.apply([spec.id])[0]
    out["outcome"], out["message"] = refused.outcome, refused.message
    out["verdict"] = str(runtime.examine(get_patch(spec.id))[0].state)
    try:
        vllm_patches.apply([spec.id], strict=True)
        out["strict"] = "no exception"
    except runtime.PatchError as exc:
        out["strict"] = f"PatchError: {exc}"
    out["forced"] = outcome(vllm_patches.apply([spec.id], force=True))
    out["forced_wraps_fork_code"] = getattr(scope, spec.original) is forks_own
    vllm_patches.revert([spec.id])
    out["fork_code_back"] = vars(scope)[spec.name] is forks_own
    setattr(scope, spec.name, original)
    return out


def reload(spec) -> dict:
    """apply(), importlib.reload of the module, apply() again; a module that took the fix
    with ``from module import name`` while it was in is followed through."""
    out = {"unpatched": probe(spec), "first": outcome(vllm_patches.apply([spec.id]))}
    later = copy_module(spec, "reloaded") if spec.class_name is None else None
    importlib.reload(module_of(spec))
    out["applied_after_reload"] = runtime.is_applied(spec.id)
    out["marked_after_reload"] = runtime.is_marked(vars(scope_of(spec))[spec.name])
    out["verdict_after_reload"] = str(runtime.examine(get_patch(spec.id))[0].state)
    out["second"] = outcome(vllm_patches.apply([spec.id]))
    out["marked_after_second"] = runtime.is_marked(vars(scope_of(spec))[spec.name])
    out["answer_after_second"] = probe(spec)
    out["third"] = outcome(vllm_patches.apply([spec.id]))
    if later is not None:
        out["copy_holds_the_new_fix"] = getattr(later, spec.name) is getattr(module_of(spec),
                                                                             spec.name)
    out["revert"] = outcome(vllm_patches.revert([spec.id]))
    out["marked_after_revert"] = runtime.is_marked(vars(scope_of(spec))[spec.name])
    out["names_after_revert"] = ours(spec)
    out["answer_after_revert"] = probe(spec)
    if later is not None:
        out["copy_back"] = getattr(later, spec.name) is getattr(module_of(spec), spec.name)
    return out


def planted_original(spec) -> dict:
    """An interrupted apply's state after a reload: vLLM's function kept under the
    original's name, and still in place. That is part of a fix, not a reload's leftover."""
    importlib.reload(module_of(spec))
    scope = scope_of(spec)
    setattr(scope, spec.original, vars(scope)[spec.name])
    refused = vllm_patches.apply([spec.id])[0]
    delattr(scope, spec.original)
    return {"outcome": refused.outcome, "message": refused.message,
            "then": outcome(vllm_patches.apply([spec.id])),
            "revert": outcome(vllm_patches.revert([spec.id]))}


def copy_module(spec, name: str) -> types.ModuleType:
    """A vLLM module (by its name) that ran ``from module import name`` now."""
    made = types.ModuleType(f"vllm._vllm_patches_test_{name}")
    exec(f"from {spec.module} import {spec.name}", made.__dict__)
    sys.modules[made.__name__] = made
    return made


def copies(spec) -> dict:
    """A module that from-imported the function before the patch went in, and one that did
    while it was in: apply rebinds the first, revert puts the original back in both."""
    module, original = module_of(spec), getattr(module_of(spec), spec.name)

    early = copy_module(spec, "early")
    out = {"apply": outcome(vllm_patches.apply([spec.id]))}
    out["early_rebound"] = getattr(early, spec.name) is getattr(module, spec.name)
    out["early_marked"] = runtime.is_marked(getattr(early, spec.name))
    later = copy_module(spec, "later")
    out["later_marked"] = runtime.is_marked(getattr(later, spec.name))
    out["revert"] = outcome(vllm_patches.revert([spec.id]))
    out["back"] = all(getattr(m, spec.name) is original for m in (module, early, later))
    out["orig_name_gone"] = not hasattr(module, spec.original)
    return out


def labelled(spec, label: str) -> str:
    """The runtime's verdict while the version says ``label``."""
    os.environ[VERSION_ENV] = label
    try:
        return str(runtime.examine(get_patch(spec.id))[0].state)
    finally:
        os.environ.pop(VERSION_ENV)


out = {"patches": {spec.id: one(spec) for spec in SPECS}}
out["threads"] = threads(METHOD)
out["fork"] = {spec.id: fork_change(spec) for spec in (METHOD, FUNCTION)}
out["copies"] = copies(FUNCTION)
out["labels"] = {label: {spec.id: labelled(spec, label) for spec in SPECS}
                 for label in ("0.16.0", "0.30.0+acme.1")}
# Last: a reload leaves a module's globals in place (the function wrap's renamed original too).
out["reload"] = {spec.id: reload(spec) for spec in (METHOD, FUNCTION)}
out["planted"] = planted_original(FUNCTION)
print(json.dumps(out))
