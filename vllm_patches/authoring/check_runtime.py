"""``catalog check``'s runtime step, in a process of its own over one vLLM release.

``python -m vllm_patches.authoring.check_runtime RELEASE PATCH_FOLDER [PATCH_FOLDER ...]``
(the release's tree first on ``PYTHONPATH``; RELEASE only labels the results) loads
each patch from its folder in turn, imports its target modules from that release,
applies it at run time (``runtime.apply_patches``), checks that the classes that run
say ``applied``, reverts it and checks that the original functions are back, before
the next patch (vLLM is imported once for all of them). Prints one JSON line per
patch, ``{"arm": "runtime", "patch", "release", "ok", "detail"}``, or ``{"arm",
"patch", "release", "not_run"}`` when the target modules cannot be imported on this
machine (a dependency the release needs is not installed here, such as xgrammar for
vLLM 0.29+). A patch whose functions did not come back ends the process there.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

from vllm_patches.core.state import State
from vllm_patches.core.words import Mode, Outcome

ARM = Mode.RUNTIME
RUNTIME_OK = "applied to the code that runs, then reverted: the original functions are back"


def main(argv: list[str]) -> int:
    release, folders = argv[0], [Path(a) for a in argv[1:]]
    for folder in folders:
        line: dict[str, object] = {"arm": ARM, "patch": folder.name, "release": release}
        try:
            line.update(_run(folder))
        except BaseException as exc:  # the parent reports it; the process must still print
            line.update(ok=False, detail=f"{type(exc).__name__}: {exc}",
                        trace=traceback.format_exc(limit=6))
        print(json.dumps(line), flush=True)
        if line.get("left_in"):
            break  # this process no longer runs vLLM's own code: the rest run alone
    return 0


def _run(folder: Path) -> dict[str, object]:
    from vllm_patches.runtime import patcher as runtime
    from vllm_patches.core.catalog import load_patch

    patch = load_patch(folder)
    for target in patch.targets:
        try:
            module = importlib.import_module(target.module)
        except ModuleNotFoundError as exc:
            if exc.name and (target.module + ".").startswith(exc.name + "."):
                return {"ok": False, "detail": f"this release has no module {target.module}"}
            return {"not_run": _cannot_import(target.module, exc)}
        except Exception as exc:
            return {"not_run": _cannot_import(target.module, exc)}
        if target.class_name is not None and getattr(module, target.class_name, None) is None:
            return {"ok": False, "detail": f"{target.scope} is not there"}
    applied = [o.outcome for o in runtime.apply_patches([patch], strict=False)]
    if applied != [Outcome.APPLIED]:
        return {"ok": False, "detail": f"apply gave {applied[0]}, not applied: "
                                       f"{runtime.examine(patch)[0].reason}"}
    state = runtime.examine(patch)[0].state
    taken = runtime.take_out(patch)
    if state != State.APPLIED:
        return {"ok": False, "detail": f"applied, but the classes that run say {state}"}
    if not taken.clean:
        return {"ok": False, "left_in": bool(taken.left),
                "detail": f"revert gave {taken.outcome.outcome}; not the original: "
                          f"{', '.join(taken.left) or '-'}"}
    return {"ok": True, "detail": RUNTIME_OK}


def _cannot_import(module: str, exc: BaseException) -> str:
    return f"{module} cannot be imported on this machine ({type(exc).__name__}: {exc})"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
