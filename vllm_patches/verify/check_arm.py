"""One arm of patches' own behaviour checks, in a process of its own.

``python -m vllm_patches.verify.check_arm [--settings JSON] ARM ID CHECK_PY [ID CHECK_PY ...]``
runs ``run()`` of each patch's ``check.py`` in turn against the vLLM on ``sys.path``
(``run(**parameters)`` for a check that declares ``PARAMETERS``: its defaults, with
the values ``--settings`` gives for that patch; it returns a ``kit.Finding``, or a dict
``{"bug", "detail"}``; the stand-ins it asked for are named at the end of its detail),
and prints one JSON line per check as it ends:

- ``control``: vLLM's code as it is (``VLLM_PATCHES=none``: nothing patches it);
- ``patched``: each fix put in the production way, alone: the plugin's import
  hook is armed for that patch only (``VLLM_PATCHES=ID``, strict), so the fix
  goes in when the check imports vLLM's module, or at once when an earlier
  check of this process imported it. After its check, the fix is taken out
  again (runtime revert; ``"taken_out": true`` when the functions it replaced
  hold their originals again). A fix that does not come out cleanly
  (``"left_in"``: what still holds it) ends the process there: the checks after
  it print nothing, and the caller runs them each in a process of its own.

A line is ``{"arm", "patch", "bug", "detail", "outcomes"}`` (and ``"data"``, what the
check measured, where it returned some), or ``{"arm", "patch", "error", "trace"}``
when the check could not run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback

from vllm_patches.core.words import Arm, Outcome
from vllm_patches.verify import messages
from vllm_patches.verify.kit import stand_ins
from vllm_patches.verify.kit.outcome import as_finding

SETTINGS_OPTION = "--settings"  # JSON: patch id -> {parameter: value}


def main(argv: list[str]) -> int:
    settings: dict[str, dict] = {}
    if argv[:1] == [SETTINGS_OPTION] and len(argv) > 1:
        settings, argv = json.loads(argv[1]), argv[2:]
    if len(argv) < 3 or len(argv) % 2 == 0 or argv[0] not in tuple(Arm):
        print("usage: python -m vllm_patches.verify.check_arm [--settings JSON] "
              "control|patched ID CHECK_PY [ID CHECK_PY ...]", file=sys.stderr)
        return 2
    arm, pairs = Arm(argv[0]), argv[1:]
    checks = list(zip(pairs[0::2], pairs[1::2]))
    for index, (patch_id, path) in enumerate(checks):
        line, clean = run_check(arm, patch_id, path, index, settings.get(patch_id))
        print(json.dumps(line), flush=True)
        if not clean:
            break
    return 0


def load_check(path, name: str):
    """The module of a check.py (or of a file beside it), loaded from its path under
    ``name`` (registered in ``sys.modules``, as dataclasses and pickling look it up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_check(arm: str, patch_id: str, check_path: str, index: int = 0,
              settings: dict | None = None) -> tuple[dict, bool]:
    """One check's line, and whether this process is still fit to run another check (in
    the patched arm: the fix came out again). ``settings``: the values given for the
    check's ``PARAMETERS`` (``run(**parameters)``, the defaults for the rest)."""
    settings = settings or {}
    line: dict[str, object] = {"arm": arm, "patch": patch_id}
    try:
        if arm == Arm.PATCHED:
            _select_alone(patch_id)
        check = load_check(check_path, f"vllm_patches_check_{arm}_{index}")
        stand_ins.asked_since_last()  # an earlier check's asking is not this one's
        values = {**getattr(check, "PARAMETERS", {}), **settings}
        found = as_finding(check.run(**values) if values else check.run(),
                           f"run() of {check_path}")
        stood_in = stand_ins.asked_since_last()
        line.update(bug=found.bug, detail=found.detail
                    + (messages.stand_ins_note(stood_in) if stood_in else ""))
        if found.data is not None:  # what the check measured, for the JSON report
            line["data"] = found.data
        if arm == Arm.PATCHED:
            from vllm_patches.runtime import patcher as runtime
            line["outcomes"] = {p: Outcome.APPLIED for p in [patch_id] if runtime.is_applied(p)}
    except BaseException as exc:  # the parent reports it; the process must still print
        line["error"] = f"{type(exc).__name__}: {exc}"
        line["trace"] = traceback.format_exc(limit=6)
    if arm != Arm.PATCHED:
        return line, True
    try:
        taken_out, left = _take_out(patch_id)
    except BaseException as exc:
        taken_out, left = False, [f"{type(exc).__name__}: {exc}"]
    if left:
        line["left_in"] = left
    elif taken_out:
        line["taken_out"] = True
    return line, not left


def _select_alone(patch_id: str) -> None:
    """Arm the plugin for this one patch, as production does (and strict: a fix that cannot
    go in is an error here)."""
    os.environ["VLLM_PATCHES"] = patch_id
    os.environ["VLLM_PATCHES_STRICT"] = "1"
    from vllm_patches.runtime import plugin

    plugin.register(via="verify")
    plugin.watch()


def _take_out(patch_id: str) -> tuple[bool, list[str]]:
    """Revert the patch in this process: whether it was in and came out, and the functions
    that still hold its fix or not their original (none when it came out cleanly)."""
    from vllm_patches.core.catalog import get_patch
    from vllm_patches.runtime import patcher as runtime

    os.environ["VLLM_PATCHES"] = "none"  # the hooks still armed for it apply nothing now
    taken = runtime.take_out(get_patch(patch_id))
    return taken.clean, taken.left


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
