"""``vllm-patches verify ID...``: run each patch's own behaviour check, unpatched and patched.

Each catalogued patch may carry ``check.py`` beside its ``patch.toml``: a
``run()`` that exercises vLLM's real code and returns ``{"bug": bool,
"detail": str}``, and a ``DEVICE`` (``"cpu"`` or ``"cuda"``). For each patch
selected, two arms run at once, each in a process of its own
(``check_arm``): ``control`` must show the bug, ``patched`` must not. The
verdict per patch:

- PASS: the control shows the bug and the patched arm does not;
- FAIL: the patched arm shows the bug, or could not run;
- INCONCLUSIVE: the control does not show the bug here, so a clean patched
  arm proves nothing;
- NOT-RUN: the patch does not apply to this vLLM, or needs a GPU there is not.

Exit 0 when every selected patch PASSes (or does not apply), 1 otherwise.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vllm_patches.core.catalog_files import PACKAGE_PARENT
from vllm_patches.core.catalog import Patch
from vllm_patches.core.state import APPLICABLE, judge, file_evidence
from vllm_patches.verify.gpu.run import Job, run_jobs


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_RUN = "NOT-RUN"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CheckResult:
    patch: str
    verdict: Verdict
    reason: str
    arms: dict[str, dict]

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS or (
            self.verdict == Verdict.NOT_RUN and not self.arms.get("needs"))

    def to_dict(self) -> dict[str, object]:
        return {"patch": self.patch, "verdict": str(self.verdict), "reason": self.reason,
                "arms": {k: v for k, v in self.arms.items() if k != "needs"}}


def check_file(patch: Patch) -> Path | None:
    path = patch.folder / "check.py"
    return path if path.is_file() else None


def check_device(path: Path) -> str:
    """The DEVICE the check declares (read without importing it); cpu when none."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return "cpu"
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DEVICE" for t in node.targets) \
                and isinstance(node.value, ast.Constant) and node.value.value in ("cpu", "cuda"):
            return node.value.value
    return "cpu"


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _env(install, arm: str, from_target: bool) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("VLLM_PATCHES", "VLLM_PATCHES_STRICT", "VLLM_PATCHES_REPORT"):
        env.pop(name, None)
    paths = [str(install.location)] if from_target else []
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    paths.append(PACKAGE_PARENT)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    if arm == "control":
        env["VLLM_PATCHES"] = "none"
    return env


def verify_checks(patches: list[Patch], install, *, from_target: bool, timeout: float,
                  echo=print) -> list[CheckResult]:
    """Run the checks of ``patches`` against ``install`` (see the module's docstring)."""
    results: list[CheckResult] = []
    jobs: list[Job] = []
    for patch in patches:
        path = check_file(patch)
        verdict = judge(patch, file_evidence(patch, install), install.version, install.location)
        if path is None:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       f"{patch.id} has no check.py", {"needs": True}))
        elif verdict.state != APPLICABLE:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       f"not applicable to this vLLM: {verdict.state} "
                                       f"({verdict.reason})", {}))
        elif check_device(path) == "cuda" and not _has_cuda():
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       "needs a CUDA GPU; none here", {"needs": True}))
        else:
            for arm in ("control", "patched"):
                argv = [sys.executable, "-m", "vllm_patches.verify.check_arm", patch.id, arm, str(path)]
                jobs.append(Job(arm, patch.id, argv, _env(install, arm, from_target)))
    if jobs:
        echo(f"Running {len(jobs)} check arm(s) against vLLM {install.version or '?'} "
             f"at {install.location} ...")
    lines = run_jobs(jobs, timeout, on_done=lambda r: echo(
        f"  {r.get('patch', r.get('scenario', '?'))}: {r['arm']} "
        f"{'bug shown' if r.get('bug') else 'no bug' if r.get('bug') is False else 'error'}"))
    by_patch: dict[str, dict[str, dict]] = {}
    for job, line in zip(jobs, lines):
        by_patch.setdefault(job.scenario, {})[job.arm] = line
    for patch_id, arms in by_patch.items():
        results.append(_decide(patch_id, arms))
    order = [p.id for p in patches]
    return sorted(results, key=lambda r: order.index(r.patch))


def _decide(patch_id: str, arms: dict[str, dict]) -> CheckResult:
    control, patched = arms.get("control", {}), arms.get("patched", {})
    if patched.get("bug") is not False:
        why = patched.get("error") or patched.get("detail") or "the patched arm did not finish"
        return CheckResult(patch_id, Verdict.FAIL, f"patched: {why}", arms)
    if control.get("bug") is not True:
        why = control.get("error") or "the control did not show the bug here"
        return CheckResult(patch_id, Verdict.INCONCLUSIVE, f"control: {why}", arms)
    return CheckResult(patch_id, Verdict.PASS,
                       f"control shows the bug ({control.get('detail', '')}); patched does not",
                       arms)
