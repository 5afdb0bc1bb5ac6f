"""``verify --upstream-tests``: vLLM's own tests for a fix, from its sdists, unpatched and patched.

A patch's ``[upstream-tests]`` names two kinds of test (``core.catalog.UpstreamTests``):

- regression: upstream's test for this bug, read from the sdist of the release that
  holds it. Verdict: PASS when it fails on the control and passes patched; FAIL when it
  fails (or cannot be collected) patched; INCONCLUSIVE when it passes unpatched here;
  NOT-RUN when none of it could run here (it needs a GPU, the network, a model);
- module: vLLM's tests of the patched code, read from the sdist of the release under
  test (a test the release does not have is left out, said so). Verdict: FAIL when a
  test that passes on the control does not pass patched (a regression, named); PASS
  when at least one test passes on both; NOT-RUN when none passed on the control.

The two give one verdict per patch: FAIL when either fails, else the regression's (the
module tests' where the patch says why it has no regression test).

All the parts share one process per arm (``upstream_arm``: vLLM is imported once; the
patched one puts each fix in alone and takes it out again), started from the preload
server (torch is imported once); a part that process did not finish runs again alone.
vLLM's ``tests/conftest.py`` imports half of the ecosystem and downloads models: the tests
run from a copy of the sdist's ``tests/`` without it (``staged``; the sub-packages keep
their conftest files), and only a test that asks for a fixture that conftest alone defines
runs again with it, where it can be imported here (``upstream_arm.run_tests``). Every test
runs offline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vllm_patches.core.catalog import Patch
from vllm_patches.core.files import FileLock, cache_root
from vllm_patches.core.words import Arm, Word
from vllm_patches.verify import messages
from vllm_patches.verify.checks import Verdict, arm_env, not_run_reason
from vllm_patches.verify.jobs import Job, run_all
from vllm_patches.verify.upstream_arm import TestOutcome

ARMS = tuple(Arm)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# pytest's settings that the user's shell or our own test run may hold: not vLLM's run's.
PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER",
              "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_TESTRUNUID")
INI = "[pytest]\n# vllm-patches: the configuration of a run of vLLM's own tests (none)\n"


class Part(Word):
    REGRESSION = "regression"
    MODULE = "module"


@dataclass
class PartResult:
    """One part's tests in both arms."""

    part: Part
    release: str  # whose sdist the tests came from
    tests: tuple[str, ...]
    verdict: Verdict
    reason: str
    arms: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # arm -> id ->
    absent: tuple[str, ...] = ()  # declared, but not in that release's tests
    decisive: tuple[str, ...] = ()  # the tests the verdict rests on

    def counts(self, arm: str) -> dict[str, int]:
        found = self.arms.get(arm, {})
        return {str(o): sum(1 for got, _ in found.values() if got == o) for o in TestOutcome}

    def to_dict(self) -> dict[str, object]:
        return {"part": str(self.part), "release": self.release, "tests": list(self.tests),
                "verdict": str(self.verdict), "reason": self.reason,
                "absent": list(self.absent),
                "decisive": list(self.decisive),
                "counts": {arm: self.counts(arm) for arm in ARMS},
                "outcomes": {arm: {t: {"outcome": o, "why": w} for t, (o, w) in found.items()}
                             for arm, found in self.arms.items()}}


@dataclass
class UpstreamResult:
    patch: str
    verdict: Verdict
    reason: str
    parts: list[PartResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.PASS, Verdict.NOT_RUN)

    def part(self, part: Part) -> PartResult | None:
        return next((p for p in self.parts if p.part == part), None)

    def to_dict(self) -> dict[str, object]:
        return {"patch": self.patch, "verdict": str(self.verdict), "reason": self.reason,
                "parts": [p.to_dict() for p in self.parts]}


@dataclass
class _Planned:
    patch: Patch
    part: Part
    release: str
    sdist: Path  # the folder that holds that release's sdist tests/
    tests: tuple[str, ...]
    absent: tuple[str, ...]
    not_run: str = ""  # why nothing of it runs on this release


def verify_upstream(patches: list[Patch], install, *, from_target: bool, timeout: float,
                    echo=print, fetch=None) -> list[UpstreamResult]:
    """Run the upstream tests of ``patches`` against ``install`` (see the module's
    docstring). ``fetch(version, progress) -> Path``: the folder holding that release's
    sdist ``tests/`` (``core.sdist.sdist_tests``)."""
    if fetch is None:
        from vllm_patches.core.sdist import sdist_tests as fetch
    results: dict[str, UpstreamResult] = {}
    planned: list[_Planned] = []
    for patch in patches:
        reason = _not_run(patch, install)
        if reason:
            results[patch.id] = UpstreamResult(patch.id, Verdict.NOT_RUN, reason)
            continue
        try:
            planned += _plan(patch, install, fetch, echo)
        except Exception as exc:  # a sdist that cannot be had costs this patch its run
            results[patch.id] = UpstreamResult(patch.id, Verdict.NOT_RUN,
                                                messages.upstream_unavailable(exc))
    runnable = [p for p in planned if p.tests]
    if runnable:
        echo(messages.upstream_starting(len(runnable), install.version or "?"))
    found = _run(runnable, install, from_target, timeout, echo)
    for patch in patches:
        if patch.id in results:
            continue
        parts = [_decide_part(p, found) for p in planned if p.patch.id == patch.id]
        results[patch.id] = _combine(patch, parts)
    return [results[p.id] for p in patches]


def _not_run(patch: Patch, install) -> str | None:
    if patch.upstream_tests is None:
        return messages.upstream_undeclared(patch.id)
    return not_run_reason(patch, install)


def _plan(patch: Patch, install, fetch, echo) -> list[_Planned]:
    declared = patch.upstream_tests
    assert declared is not None
    planned = []
    if declared.since is not None and install.version is not None \
            and install.version < declared.since:
        planned.append(_Planned(patch, Part.REGRESSION, str(declared.release), Path(), (),
                                (), messages.upstream_before_since(declared.since)))
    elif declared.regression and declared.release is not None:
        planned.append(_planned(patch, Part.REGRESSION, str(declared.release),
                                declared.regression, fetch, echo))
    if declared.module:
        planned.append(_planned(patch, Part.MODULE, _release_of(install), declared.module,
                                fetch, echo))
    return planned


def _release_of(install) -> str:
    """The release whose sdist holds the module tests of ``install``: its version without a
    local part (a fork's ``0.22.1+corp`` reads 0.22.1's)."""
    if install.version is None:
        raise ValueError(messages.upstream_no_version())
    return install.version.public


def _planned(patch: Patch, part: Part, release: str, tests: tuple[str, ...], fetch,
             echo) -> _Planned:
    sdist = Path(fetch(release, progress=echo))
    present = tuple(t for t in tests if (sdist / t.split("::")[0]).is_file())
    absent = tuple(t for t in tests if t not in present)
    return _Planned(patch, part, release, sdist, present, absent)


def staged(sdist: Path, release: str) -> Path:
    """A copy of ``sdist``'s ``tests/`` without ``tests/conftest.py`` (hard links where the
    file system allows), made once per release in the user cache."""
    dest = cache_root() / "upstream-runs" / release
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.parent / f".{release}.lock"):
        if (dest / ".complete").is_file():
            return dest
        temp = dest.parent / f".{release}.staging"
        shutil.rmtree(temp, ignore_errors=True)
        top = sdist / "tests"
        shutil.copytree(top, temp / "tests", copy_function=_link_or_copy, symlinks=False,
                        ignore=lambda folder, names: ["conftest.py"] if Path(folder) == top
                        else [])
        (temp / ".complete").write_text(f"{sdist}\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(temp, dest)
    return dest


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def ini_file() -> Path:
    """The empty pytest configuration every run reads (no ini of the user's, none of vLLM's)."""
    path = cache_root() / "upstream-runs" / "pytest.ini"
    if not path.is_file() or path.read_text(encoding="utf-8") != INI:
        from vllm_patches.core.files import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, INI)
    return path


# Running --------------------------------------------------------------------------------
def _run(planned: list[_Planned], install, from_target: bool, timeout: float,
         echo) -> dict[tuple[str, Part, str], dict]:
    """(patch, part, arm) -> the arm's JSON line (or why it has none). All the entries share
    one process per arm, as the checks do; an entry that process did not finish (it
    crashed, or an earlier fix did not come out) runs again in processes of its own."""
    found = _run_groups([planned] if len(planned) > 1 else [], install, from_target, timeout,
                        echo)
    again = [[plan] for plan in planned
             if any(_key(plan, arm) not in found for arm in ARMS)]
    found.update(_run_groups(again, install, from_target, timeout, echo, alone=True))
    return found


def _key(plan: _Planned, arm: str) -> tuple[str, Part, str]:
    return plan.patch.id, plan.part, arm


def _run_groups(groups: list[list[_Planned]], install, from_target: bool, timeout: float,
                echo, alone: bool = False) -> dict[tuple[str, Part, str], dict]:
    ini = str(ini_file()) if groups else ""
    jobs = []
    for group in groups:
        plan = [{"patch": p.patch.id, "part": str(p.part), "staged": str(staged(p.sdist,
                 p.release)), "sdist": str(p.sdist), "ini": ini, "tests": list(p.tests)}
                for p in group]
        for arm in ARMS:
            env = {k: v for k, v in arm_env(install, arm, from_target).items()
                   if k not in PYTEST_ENV}
            env.update(OFFLINE)
            argv = [sys.executable, "-m", "vllm_patches.verify.upstream_arm", arm,
                    json.dumps(plan)]
            jobs.append(Job(arm, ",".join(p.patch.id for p in group), argv, env,
                            timeout=timeout * len(group), members=tuple(
                                p.patch.id for p in group), preload=True))
    by_job = {id(job): group for job, group in zip(jobs, [g for g in groups for _ in ARMS],
                                                  strict=True)}

    def progress(job: Job, line: dict) -> None:
        if line.get("arm") == job.arm and line.get("patch") in job.members:
            echo(messages.upstream_arm_done(line["patch"], str(line.get("part")), job.arm,
                                            line))

    found: dict[tuple[str, Part, str], dict] = {}
    for finished in run_all(jobs, timeout, on_line=progress):
        for line in finished.lines():
            if line.get("arm") == finished.job.arm and line.get("part") in tuple(Part):
                found[(str(line.get("patch")), Part(line["part"]), finished.job.arm)] = line
        if alone:
            for plan in by_job[id(finished.job)]:
                found.setdefault(_key(plan, finished.job.arm),
                                 {"error": finished.no_result()})
    return found


# Verdicts -------------------------------------------------------------------------------
def _decide_part(plan: _Planned, found: dict[tuple[str, Part, str], dict]) -> PartResult:
    result = PartResult(plan.part, plan.release, plan.tests, Verdict.NOT_RUN, "",
                        absent=plan.absent)
    if not plan.tests:
        result.reason = plan.not_run or messages.upstream_all_absent(plan.release, plan.absent)
        return result
    lines = {arm: found.get((plan.patch.id, plan.part, arm), {}) for arm in ARMS}
    for arm, line in lines.items():
        result.arms[arm] = {t["id"]: (t["outcome"], t.get("why", ""))
                            for t in line.get("tests", []) if isinstance(t, dict) and "id" in t}
    broken = [arm for arm, line in lines.items() if "error" in line or "tests" not in line]
    if Arm.PATCHED in broken:
        result.verdict, result.reason = Verdict.FAIL, messages.upstream_arm_broken(
            Arm.PATCHED, lines[Arm.PATCHED].get("error", ""))
    elif Arm.CONTROL in broken:
        result.verdict, result.reason = Verdict.INCONCLUSIVE, messages.upstream_arm_broken(
            Arm.CONTROL, lines[Arm.CONTROL].get("error", ""))
    elif plan.part == Part.REGRESSION:
        _decide_regression(result, lines[Arm.PATCHED].get("applied"))
    else:
        _decide_module(result, lines[Arm.PATCHED].get("applied"))
    return result


def _pairs(result: PartResult) -> dict[str, tuple[str, str]]:
    """test id -> (control outcome, patched outcome); a test one arm lacks is an error there."""
    control, patched = result.arms.get(Arm.CONTROL, {}), result.arms.get(Arm.PATCHED, {})
    missing = (str(TestOutcome.ERROR), "")
    return {t: (control.get(t, missing)[0], patched.get(t, missing)[0])
            for t in dict.fromkeys([*control, *patched])}


def _broken_patched(control: str, patched: str) -> bool:
    """The patched arm fails a test, or cannot run one the control could."""
    return patched == TestOutcome.FAILED or (patched == TestOutcome.ERROR
                                             and control != TestOutcome.ERROR)


def _decide_regression(result: PartResult, applied) -> None:
    pairs = _pairs(result)
    broken = [t for t, (c, p) in pairs.items() if _broken_patched(c, p)]
    shown = [t for t, (c, p) in pairs.items() if c == TestOutcome.FAILED]
    passing = [t for t, (c, p) in pairs.items() if p == TestOutcome.PASSED]
    ran = [t for t, (c, p) in pairs.items() if TestOutcome.PASSED in (c, p)
           or TestOutcome.FAILED in (c, p)]
    if broken:
        result.verdict, result.decisive = Verdict.FAIL, tuple(broken)
        result.reason = messages.upstream_regression_fails_patched(
            broken, result.arms[Arm.PATCHED])
    elif not ran:
        result.verdict = Verdict.NOT_RUN
        result.reason = messages.upstream_none_ran(result.arms.get(Arm.CONTROL, {}))
    elif not shown and not any(c == TestOutcome.PASSED for c, _ in pairs.values()):
        result.verdict = Verdict.NOT_RUN  # the control could not run it here: no evidence
        result.reason = messages.upstream_none_ran(result.arms.get(Arm.CONTROL, {}))
    elif not shown:
        result.verdict, result.decisive = Verdict.INCONCLUSIVE, tuple(ran)
        result.reason = messages.upstream_regression_passes_unpatched(ran)
    elif applied is not True:
        result.verdict = Verdict.INCONCLUSIVE
        result.reason = messages.upstream_fix_not_in()
    else:
        result.verdict, result.decisive = Verdict.PASS, tuple(shown)
        result.reason = messages.upstream_regression_pass(shown, passing)


def _decide_module(result: PartResult, applied) -> None:
    pairs = _pairs(result)
    regressed = [t for t, (c, p) in pairs.items()
                 if c == TestOutcome.PASSED and p != TestOutcome.PASSED]
    held = [t for t, (c, p) in pairs.items() if c == p == TestOutcome.PASSED]
    if regressed:
        result.verdict, result.decisive = Verdict.FAIL, tuple(regressed)
        result.reason = messages.upstream_module_regressed(regressed, result.arms[Arm.PATCHED])
    elif not held:
        result.verdict = Verdict.NOT_RUN
        result.reason = messages.upstream_none_ran(result.arms.get(Arm.CONTROL, {}))
    else:
        result.verdict = Verdict.PASS
        result.reason = messages.upstream_module_pass(len(held), applied is True)


def _combine(patch: Patch, parts: list[PartResult]) -> UpstreamResult:
    failed = [p for p in parts if p.verdict == Verdict.FAIL]
    regression = next((p for p in parts if p.part == Part.REGRESSION), None)
    module = next((p for p in parts if p.part == Part.MODULE), None)
    if failed:
        return UpstreamResult(patch.id, Verdict.FAIL, "; ".join(
            f"{p.part}: {p.reason}" for p in failed), parts)
    lead = regression or module
    if lead is None:
        declared = patch.upstream_tests
        why = declared.none if declared and declared.none else messages.upstream_nothing()
        return UpstreamResult(patch.id, Verdict.NOT_RUN, why, parts)
    reason = "; ".join(f"{p.part}: {p.reason}" for p in parts)
    return UpstreamResult(patch.id, lead.verdict, reason, parts)
