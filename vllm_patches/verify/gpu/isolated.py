"""A GPU check's cases, each in a process of its own, in the arm that runs the check.

After a CUDA error (an illegal memory access) the process's CUDA context is dead and
even the interpreter's exit can hang or abort, so a GPU check's ``run()`` hands each
case (a scenario) to ``run_cases``: one child process per case, all at once, each
in the session of the check's arm process (a timeout there stops them too). A case
that ends without its line is ``crashed`` (or ``timeout``): that is its result.

A child, ``python -m vllm_patches.verify.gpu.isolated CHECK_PY FUNCTION CASE_JSON``:

- arms the plugin as vLLM's plugin loader does in every process (``register``): in
  the patched arm ``VLLM_PATCHES`` names the check's patch alone (``check_arm`` set
  it), so the fix goes in as FUNCTION imports vLLM's module; in the control it is
  ``none`` and nothing patches (``control_unpatched`` proves it on a class);
- emulates CUDA graphs on the CPU where the case's ``device`` is ``cpu``
  (``cpu_graphs``, for tests);
- calls ``FUNCTION(**case)`` of CHECK_PY, prints its result as one JSON line (with the
  patches the plugin put in, ``applied``), and leaves at once (``os._exit``).
"""

from __future__ import annotations

import json
import os
import sys
import time

from vllm_patches.core.words import Arm
from vllm_patches.verify import messages
from vllm_patches.verify.gpu.graphs import CRASHED, SETUP_ERROR, TIMEOUT, SetupError, error_text
from vllm_patches.verify.jobs import Job, run_all

CHILD = "vllm_patches.verify.gpu.isolated"


def current_arm() -> Arm:
    """The arm this process runs in: the control is the one whose selection is none."""
    from vllm_patches.runtime.plugin import read_selection

    return Arm.CONTROL if read_selection()[0] == () else Arm.PATCHED


def run_cases(check_file: str, function: str, cases: list[dict], timeout: float) -> list[dict]:
    """``function(**case)`` of ``check_file`` for each case (each has a ``"case"`` name),
    each in a process of its own, all at once; their results in the order of ``cases``."""
    arm = str(current_arm())
    jobs = [Job(arm, case["case"], [sys.executable, "-m", CHILD, str(check_file), function,
                                    json.dumps(case)],
                dict(os.environ), own_session=False) for case in cases]
    results = []
    for finished in run_all(jobs, timeout):
        name = finished.job.scenario
        line = next((ln for ln in reversed(finished.lines()) if ln.get("case") == name), None)
        if line is None:
            line = {"case": name, "status": TIMEOUT if finished.timed_out else CRASHED,
                    "error": finished.no_result(), "where": None, "sizes": []}
        line["seconds"] = finished.seconds
        results.append(line)
    return results


def marked_methods(cls: type) -> list[str]:
    """Methods of ``cls`` that a runtime patch replaced."""
    from vllm_patches.runtime.patcher import is_marked

    return sorted(name for name, func in vars(cls).items() if is_marked(func))


def control_unpatched(cls: type) -> None:
    """In the control, nothing may have patched ``cls`` (a hook that ignored
    ``VLLM_PATCHES=none``): the control must run the original code to show the bug."""
    marked = marked_methods(cls) if current_arm() == Arm.CONTROL else []
    if marked:
        raise SetupError(messages.control_runs_patched_code(cls.__qualname__, marked))


def _applied() -> dict[str, str]:
    from vllm_patches.runtime import patcher
    from vllm_patches.runtime.plugin import read_selection

    return {pid: "applied" for pid in read_selection()[0] or () if patcher.is_applied(pid)}


def child(check_file: str, function: str, case: dict) -> dict:
    """One case's result, in this process (see the module's docstring)."""
    from vllm_patches.verify.check_arm import load_check

    started = time.perf_counter()
    result: dict = {"case": case.get("case"), "arm": str(current_arm())}
    try:
        if case.get("device") == "cpu":
            from vllm_patches.verify.gpu import cpu_graphs

            cpu_graphs.install()
        from vllm_patches.runtime import plugin

        plugin.register(via="verify")
        result.update(getattr(load_check(check_file, "vllm_patches_case"), function)(**case))
    except SetupError as exc:
        result.update(status=SETUP_ERROR, error=str(exc), where="setup", sizes=[])
    except Exception as exc:
        result.update(status=SETUP_ERROR, error=error_text(exc), where="setup", sizes=[])
    result["applied"] = _applied()
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def emit_and_exit(result: dict) -> None:
    """Print the result line and leave without running interpreter shutdown."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        print(f"usage: python -m {CHILD} CHECK_PY FUNCTION CASE_JSON", file=sys.stderr)
        sys.exit(2)
    emit_and_exit(child(argv[0], argv[1], json.loads(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
