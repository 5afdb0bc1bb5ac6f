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
import sys
from dataclasses import dataclass
from pathlib import Path

from vllm_patches.core.childenv import child_env
from vllm_patches.core.catalog import Patch
from vllm_patches.core.state import APPLICABLE, judge, file_evidence
from vllm_patches.core.words import Arm, Word
from vllm_patches.verify import messages
from vllm_patches.verify.jobs import Job, run_all


class Verdict(Word):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_RUN = "NOT-RUN"


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


@dataclass(frozen=True)
class _Runnable:
    """A check that will run: its patch, its check.py, the device it declares."""

    patch: Patch
    path: Path
    device: str


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


def _env(install, arm: Arm, from_target: bool) -> dict[str, str]:
    tree = [install.location] if from_target else []
    # The control arm arms no hook; the patched arm selects its patch itself (check_arm).
    control = {"VLLM_PATCHES": "none"} if arm == Arm.CONTROL else {}
    return child_env(*tree, install=install, **control)


def verify_checks(patches: list[Patch], install, *, from_target: bool, timeout: float,
                  echo=print, isolated: bool = False) -> list[CheckResult]:
    """Run the checks of ``patches`` against ``install`` (see the module's docstring).

    Importing vLLM is most of a check's time, so the CPU checks share one process per
    arm (``check_arm`` runs them in turn: the patched one puts each fix in alone and takes
    it out again). A check that process did not finish (it crashed, or a fix did not
    come out cleanly) runs again in a process of its own; so does every check with
    ``isolated``, and every CUDA check (an illegal memory access must cost only itself).
    """
    results: list[CheckResult] = []
    runnable: list[_Runnable] = []
    for patch in patches:
        path = check_file(patch)
        verdict = judge(patch, file_evidence(patch, install), install.version, install.location)
        device = check_device(path) if path is not None else "cpu"
        if path is None:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       f"{patch.id} has no check.py", {"needs": True}))
        elif verdict.state != APPLICABLE:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       f"not applicable to this vLLM: {verdict.state} "
                                       f"({verdict.reason})", {}))
        elif device == "cuda" and not _has_cuda():
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       "needs a CUDA GPU; none here", {"needs": True}))
        else:
            runnable.append(_Runnable(patch, path, device))
    if runnable:
        shared = [] if isolated else [check for check in runnable if check.device == "cpu"]
        if len(shared) < 2:
            shared = []
        alone = [[check] for check in runnable if check not in shared]
        groups = ([shared] if shared else []) + alone
        count = sum(len(g) for g in groups)
        echo(messages.checks_starting(count, len(groups) * 2, install.version or "?",
                                      install.location))
        arms = _run_groups(groups, install, from_target, timeout, echo)
        again = [[check] for check in shared
                 if any((check.patch.id, arm) not in arms for arm in ARMS)]
        if again:
            echo(messages.checks_again_alone(len(again)))
            arms.update(_run_groups(again, install, from_target, timeout, echo))
        for check in runnable:
            results.append(_decide(check.patch.id, {arm: arms.get((check.patch.id, arm), {})
                                                    for arm in ARMS}))
    order = [p.id for p in patches]
    return sorted(results, key=lambda r: order.index(r.patch))


ARMS = tuple(Arm)


def _run_groups(groups: list[list[_Runnable]], install, from_target: bool,
                timeout: float, echo) -> dict[tuple[str, str], dict]:
    """Run each group's checks, one process per (group, arm), all at once; the line of each
    (patch, arm) that finished. A group of one gets a line even when its process died (the
    crash is its result); a shared group's unfinished checks get none. CPU-only groups
    start from the preload server; a CUDA arm starts fresh."""
    jobs = []
    for group in groups:
        for arm in ARMS:
            argv = [sys.executable, "-m", "vllm_patches.verify.check_arm", arm]
            for check in group:
                argv += [check.patch.id, str(check.path)]
            ids = tuple(check.patch.id for check in group)
            jobs.append(Job(arm, ",".join(ids), argv, _env(install, arm, from_target),
                            timeout=timeout * len(group), members=ids,
                            preload=all(check.device == "cpu" for check in group)))

    def progress(job: Job, line: dict) -> None:
        if line.get("arm") == job.arm and line.get("patch") in job.members:
            echo(messages.check_arm_done(line["patch"], job.arm, line.get("bug")))

    found: dict[tuple[str, str], dict] = {}
    for finished in run_all(jobs, timeout, on_line=progress):
        arm, ids = finished.job.arm, finished.job.members
        found.update({(patch_id, arm): line for patch_id, line in finished.results().items()})
        if len(ids) == 1 and (ids[0], arm) not in found:
            found[(ids[0], arm)] = {"arm": arm, "patch": ids[0], "error": finished.no_result()}
    return found


def _decide(patch_id: str, arms: dict[str, dict]) -> CheckResult:
    control, patched = arms.get(Arm.CONTROL, {}), arms.get(Arm.PATCHED, {})
    if patched.get("bug") is not False:
        why = patched.get("error") or patched.get("detail") or "the patched arm did not finish"
        return CheckResult(patch_id, Verdict.FAIL, f"patched: {why}", arms)
    if control.get("bug") is not True:
        why = control.get("error") or "the control did not show the bug here"
        return CheckResult(patch_id, Verdict.INCONCLUSIVE, f"control: {why}", arms)
    return CheckResult(patch_id, Verdict.PASS,
                       f"control shows the bug ({control.get('detail', '')}); patched does not",
                       arms)
