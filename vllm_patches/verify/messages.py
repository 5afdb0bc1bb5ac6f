"""What vllm-patches says about the behaviour checks and the GPU verification.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations


# GPU checks (verify.gpu) -------------------------------------------------------
def control_runs_patched_code(owner: str, methods: list[str]) -> str:
    return (
        f"the original code cannot run: {owner}.{', '.join(methods)} is already patched in this "
        "process (a vllm-patches hook ignored VLLM_PATCHES=none)"
    )


def rank_group_failed(error: str) -> str:
    return f"the process group could not be set up ({error})"


def rank_gave_nothing(rank: int, failure: str | None) -> str:
    why = f" ({failure})" if failure else ""
    return f"rank {rank} ended without a result{why}"


def arm_crashed(returncode: int, last_line: str) -> str:
    how = _exit_text(returncode)
    return f"the process {how} without a result" + (f": {last_line}" if last_line else "")


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return f"died of {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died of signal {-returncode}"
    return f"exited with code {returncode}"


def arm_timed_out(seconds: float) -> str:
    return f"no result within {seconds:.0f} s (stopped)"


# The harness's stand-ins ------------------------------------------------------
def xgrammar_stand_in_doc() -> str:
    return ("A stand-in for xgrammar, which cannot be imported here: vllm-patches verify imports "
            "vLLM's modules, which take xgrammar's names at module load; none of it is used.")


def compiled_stand_in_doc() -> str:
    return ("vllm-patches stand-in for a compiled vLLM extension that this Python-only tree "
            "lacks: imported at module load, never called by the verification.")


# Behaviour checks (checks.py) ------------------------------------------------------
def checks_starting(checks: int, processes: int, version: str, location) -> str:
    return (f"Running {checks} check(s), control and patched, in {processes} process(es) "
            f"against vLLM {version} at {location} ...")


def check_arm_done(patch_id: str, arm: str, bug) -> str:
    shown = "bug shown" if bug is True else "no bug" if bug is False else "error"
    return f"  {patch_id}: {arm} {shown}"


def checks_again_alone(count: int) -> str:
    return (f"  {count} check(s) did not finish in the shared process: running each in a "
            "process of its own ...")


def setting_malformed(item: str) -> str:
    return f"--set wants NAME=VALUE (example: --set trials=20); got '{item}'."


def setting_unknown(name: str, names: list[str]) -> str:
    takes = f"they take: {', '.join(names)}" if names else "they take no parameters"
    return f"--set {name}: no selected check takes a parameter '{name}' ({takes})."


def setting_bad_value(name: str, raw: str, default: object) -> str:
    if isinstance(default, bool):
        kind = "true or false"
    elif isinstance(default, (tuple, list)):
        kind = "a comma list like " + ",".join(str(v) for v in default)
    else:
        kind = f"a {type(default).__name__} like {default}"
    return f"--set {name}={raw}: {name} wants {kind}."


# The check kit (verify.kit) -----------------------------------------------------
def finding_bug_not_bool(bug) -> str:
    return f"A Finding's bug must be True or False, not {bug!r}."


def bad_finding(source: str, value) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return (f"{source} returned {shown}; a check must return kit.Finding(bug, detail) or a "
            "dict with a bool 'bug' and a 'detail'.")


def stand_ins_note(names) -> str:
    return f" (stand-ins for {', '.join(names)})"


def stand_ins_moved() -> str:
    return ("vllm-patches: vllm_patches.verify.stand_ins is deprecated and goes in the next "
            "release; import stand_in_for_missing from vllm_patches.verify.kit.")


# Upstream's own tests (verify.upstream) ------------------------------------------
def _names(tests, limit: int = 3) -> str:
    tests = list(tests)
    shown = ", ".join(tests[:limit])
    return shown + (f" and {len(tests) - limit} more" if len(tests) > limit else "")


def upstream_undeclared(patch_id: str) -> str:
    return f"{patch_id} declares no upstream tests ([upstream-tests] in its patch.toml)"


def upstream_unavailable(exc: Exception) -> str:
    return f"vLLM's tests could not be had: {exc}"


def upstream_no_version() -> str:
    return "the vLLM under test says no version, so its sdist's tests are not known"


def upstream_starting(parts: int, version: str) -> str:
    return (f"running vLLM's own tests against vLLM {version}: {parts} part(s), control and "
            "patched ...")


def upstream_arm_done(patch_id: str, part: str, arm: str, line: dict) -> str:
    if "error" in line or "tests" not in line:
        return f"  {patch_id} {part} {arm}: did not finish ({line.get('error', '')})"
    counts: dict[str, int] = {}
    for test in line["tests"]:
        counts[test.get("outcome", "?")] = counts.get(test.get("outcome", "?"), 0) + 1
    shown = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no test"
    return f"  {patch_id} {part} {arm}: {shown}"


def upstream_all_absent(release: str, absent) -> str:
    return f"none of its tests is in vLLM {release}'s tests ({_names(absent)})"


def upstream_arm_broken(arm: str, error: str) -> str:
    return f"the {arm} pytest run did not finish: {error or 'no result'}"


def upstream_regression_fails_patched(tests, patched: dict) -> str:
    first = tests[0]
    why = patched.get(first, ("", ""))[1]
    return (f"upstream's regression test fails with the fix in: {_names(tests)}"
            + (f" ({why})" if why else ""))


def upstream_none_ran(control: dict) -> str:
    reasons = sorted({why for _, why in control.values() if why})
    return "no test ran here" + (f": {'; '.join(reasons[:3])}" if reasons else "")


def upstream_regression_passes_unpatched(tests) -> str:
    return f"upstream's regression test passes here unpatched ({_names(tests)})"


def upstream_fix_not_in() -> str:
    return "the fix was not in place when the tests ended (they never imported its module?)"


def upstream_regression_pass(shown, passing) -> str:
    return (f"{len(shown)} fail(s) unpatched, {len(passing)} pass patched "
            f"({_names(shown)})")


def upstream_module_regressed(tests, patched: dict) -> str:
    first = tests[0]
    outcome, why = patched.get(first, ("missing", ""))
    return (f"{len(tests)} of vLLM's tests pass unpatched and not patched: {_names(tests)} "
            f"({outcome}{': ' + why if why else ''})")


def upstream_module_pass(held: int, applied: bool) -> str:
    return (f"{held} of vLLM's tests pass unpatched and patched, none regressed"
            + ("" if applied else " (the tests never imported the patched module)"))


def upstream_nothing() -> str:
    return "no upstream test is declared"


def upstream_needs_root_conftest(fixture: str, problem: str) -> str:
    return (f"needs the fixture {fixture} of vLLM's tests/conftest.py, which cannot be "
            f"loaded here ({problem})")


def upstream_before_since(since) -> str:
    return (f"upstream's regression test calls vLLM's API of {since} on, which this release "
            "predates")
