"""``vllm-patches verify ID...``: run each patch's own behaviour check, unpatched and patched.

Each catalogued patch may carry ``check.py`` beside its ``patch.toml``: a
``run()`` that exercises vLLM's real code and returns a ``kit.Finding(bug,
detail)`` (``verify.kit`` holds what a check needs besides its bug; a dict
``{"bug": bool, "detail": str}`` is still taken, and anything else is refused
in the arm with one sentence), a ``DEVICE`` (``"cpu"`` or ``"cuda"``), and
``PARAMETERS`` (name -> default, passed to ``run(**parameters)``; ``verify --set
NAME=VALUE`` changes one for every selected check that declares it). For each patch
selected, two arms run at once, each in a process of its own
(``check_arm``): ``control`` must show the bug, ``patched`` must not. The
verdict per patch:

- PASS: the control shows the bug and the patched arm does not;
- FAIL: the patched arm shows the bug, or could not run;
- INCONCLUSIVE: the control does not show the bug here, so a clean patched
  arm proves nothing;
- NOT-RUN: the patch does not apply to this vLLM, or needs a GPU there is not.

``CheckResult.ok``: nothing failed (PASS or NOT-RUN: ``verify`` exits 0; FAIL or
INCONCLUSIVE: 1).
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from vllm_patches.core.catalog import Patch
from vllm_patches.core.childenv import child_env
from vllm_patches.core.state import APPLICABLE, file_evidence, judge
from vllm_patches.core.words import Arm, Word
from vllm_patches.verify import messages
from vllm_patches.verify.check_arm import SETTINGS_OPTION
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
        """Nothing failed: PASS, or NOT-RUN (never a pass, never a failure: the patch does
        not apply here, has no check.py, or its check needs a GPU there is not)."""
        return self.verdict in (Verdict.PASS, Verdict.NOT_RUN)

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


DEVICES = ("cpu", "cuda")


def _constants(path: Path) -> dict[str, object]:
    """The check's module-level constants (read without importing it): each name assigned
    a literal, which may use the names assigned before it (``"device": DEVICE``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return {}
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(_named(node.value, found))
            except ValueError:
                continue
    return found


def _named(node: ast.expr, known: dict[str, object]) -> ast.expr:
    """``node`` with each name of ``known`` replaced by its value."""

    class Resolve(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            return ast.Constant(known[name.id]) if name.id in known else name

    return Resolve().visit(node)


def check_device(path: Path) -> str:
    """The DEVICE the check declares; cpu when none."""
    device = _constants(path).get("DEVICE")
    return device if device in DEVICES else "cpu"


def check_parameters(path: Path) -> dict[str, object]:
    """The check's ``PARAMETERS``: name -> default (``run(**parameters)`` gets them)."""
    found = _constants(path).get("PARAMETERS")
    return {k: v for k, v in found.items() if isinstance(k, str)} if isinstance(found, dict) else {}


class BadSetting(ValueError):
    """A ``--set NAME=VALUE`` that no selected check takes, or a value of the wrong kind."""


def settings_for(patches: list[Patch], given: list[str]) -> dict[str, dict[str, object]]:
    """patch id -> {parameter: value} from ``NAME=VALUE`` strings, for each check that
    declares NAME, the value read as that check's default is (BadSetting otherwise)."""
    declared = {p.id: check_parameters(path) for p in patches
                if (path := check_file(p)) is not None}
    out: dict[str, dict[str, object]] = {}
    for item in given:
        name, sep, raw = item.partition("=")
        name = name.strip()
        takers = [pid for pid, params in declared.items() if name in params]
        if not sep or not name:
            raise BadSetting(messages.setting_malformed(item))
        if not takers:
            names = sorted({n for params in declared.values() for n in params})
            raise BadSetting(messages.setting_unknown(name, names))
        for pid in takers:
            out.setdefault(pid, {})[name] = _read_value(name, raw, declared[pid][name])
    return out


def _read_value(name: str, raw: str, default: object) -> object:
    text = raw.strip()
    try:
        if isinstance(default, bool):
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return words[text.lower()]
        if isinstance(default, (tuple, list)):
            kind = type(default[0]) if default else str
            return [kind(part.strip()) for part in text.split(",")]
        return type(default)(text) if isinstance(default, (int, float)) else text
    except (KeyError, ValueError):
        raise BadSetting(messages.setting_bad_value(name, raw, default)) from None


def effective_device(path: Path, settings: dict[str, object]) -> str:
    """Where the check runs: its ``device`` parameter where it declares one and it is set
    (``--set device=cpu``: a GPU check's emulation, for tests), else its DEVICE."""
    device = settings.get("device")
    return device if device in DEVICES else check_device(path)


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def arm_env(install, arm: Arm, from_target: bool) -> dict[str, str]:
    tree = [install.location] if from_target else []
    # The control arm arms no hook; the patched arm selects its patch itself (check_arm).
    control = {"VLLM_PATCHES": "none"} if arm == Arm.CONTROL else {}
    return child_env(*tree, install=install, **control)


def not_run_reason(patch: Patch, install) -> str | None:
    """Why no proof of ``patch`` runs against ``install`` (None: it applies there): the one
    gate of ``verify``'s checks and upstream tests, the verdict every mode reads."""
    verdict = judge(patch, file_evidence(patch, install), install.version, install.location)
    if verdict.state != APPLICABLE:
        return f"not applicable to this vLLM: {verdict.state} ({verdict.reason})"
    return None


def verify_checks(patches: list[Patch], install, *, from_target: bool, timeout: float,
                  echo=print, isolated: bool = False,
                  settings: dict[str, dict] | None = None) -> list[CheckResult]:
    """Run the checks of ``patches`` against ``install`` (see the module's docstring).

    Importing vLLM is most of a check's time, so the CPU checks share one process per
    arm (``check_arm`` runs them in turn: the patched one puts each fix in alone and takes
    it out again). A check that process did not finish (it crashed, or a fix did not
    come out cleanly) runs again in a process of its own; so does every check with
    ``isolated``, and every CUDA check (an illegal memory access must cost only itself).
    ``settings``: patch id -> values for its check's parameters (``settings_for``).
    """
    settings = settings or {}
    results: list[CheckResult] = []
    runnable: list[_Runnable] = []
    for patch in patches:
        path = check_file(patch)
        device = effective_device(path, settings.get(patch.id, {})) if path else "cpu"
        if path is None:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN,
                                       f"{patch.id} has no check.py", {"needs": True}))
        elif (reason := not_run_reason(patch, install)) is not None:
            results.append(CheckResult(patch.id, Verdict.NOT_RUN, reason, {}))
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
        arms = _run_groups(groups, install, from_target, timeout, echo, settings)
        again = [[check] for check in shared
                 if any((check.patch.id, arm) not in arms for arm in ARMS)]
        if again:
            echo(messages.checks_again_alone(len(again)))
            arms.update(_run_groups(again, install, from_target, timeout, echo, settings))
        for check in runnable:
            results.append(_decide(check.patch.id, {arm: arms.get((check.patch.id, arm), {})
                                                    for arm in ARMS}))
    order = [p.id for p in patches]
    return sorted(results, key=lambda r: order.index(r.patch))


ARMS = tuple(Arm)


def _run_groups(groups: list[list[_Runnable]], install, from_target: bool,
                timeout: float, echo, settings: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """Run each group's checks, one process per (group, arm), all at once; the line of each
    (patch, arm) that finished. A group of one gets a line even when its process died (the
    crash is its result); a shared group's unfinished checks get none. CPU-only groups
    start from the preload server; a CUDA arm starts fresh."""
    jobs = []
    for group in groups:
        for arm in ARMS:
            argv = [sys.executable, "-m", "vllm_patches.verify.check_arm"]
            given = {c.patch.id: settings[c.patch.id] for c in group if c.patch.id in settings}
            if given:
                argv += [SETTINGS_OPTION, json.dumps(given)]
            argv.append(arm)
            for check in group:
                argv += [check.patch.id, str(check.path)]
            ids = tuple(check.patch.id for check in group)
            jobs.append(Job(arm, ",".join(ids), argv, arm_env(install, arm, from_target),
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
