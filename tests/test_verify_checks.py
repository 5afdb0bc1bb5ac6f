"""``vllm-patches verify ID...``: each patch's own check.py, control and patched.

Every CPU-checked patch of the catalogue runs on every release of the check matrix that it
affects (``tests/matrix.py``: with ``catalog check``'s first and last affected releases, a
release for every recorded shape of its code):
the control must show the bug, the patched arm (that fix alone, put in by the plugin) must
not. One ``verify`` run per release runs all its checks, sharing a process per arm; a check
that takes the shared process down costs only itself.
"""

from __future__ import annotations

import json

import pytest

from tests.catalogues import MATH, print_of, write_patch
from tests.helpers import run_cli
from tests.matrix import cases, catalog_check_ends, matrix, met_by_catalog_check, shapes
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import Verdict, _decide, check_file

MATRIX = matrix(after_catalog_check=True)
CHECKED = [p for p in load_catalog() if check_file(p) is not None]


@pytest.fixture(scope="module")
def verified(release, tmp_path_factory):
    """``verified(version)`` -> (the verify process, {patch id: its result}): one run of
    ``verify`` per release with every checked patch that affects it."""
    runs = {}

    def get(version: str):
        if version not in runs:
            release(version)
            out = tmp_path_factory.mktemp("verify") / "verify.json"
            proc = run_cli("verify", *MATRIX[version], "--release", version, "-o",
                           str(out), timeout=1200)
            results = json.loads(out.read_text())["results"] if out.exists() else []
            runs[version] = (proc, {r["patch"]: r for r in results})
        return runs[version]

    return get


def test_the_matrix_and_catalog_check_meet_every_recorded_shape_of_each_checked_fix():
    recorded, ends = shapes(), catalog_check_ends()
    unmet = [shape for shape, releases in recorded.items()
             if not releases & set(MATRIX) and not met_by_catalog_check(shape, releases, ends)]
    assert recorded and unmet == []
    assert {pid for pid, _ in cases(True)} == {p.id for p in CHECKED if p.id in
                                           {s[0] for s in recorded}}


@pytest.mark.parametrize("patch_id, version", cases(after_catalog_check=True))
def test_the_control_shows_the_bug_and_the_patched_arm_does_not(verified, patch_id, version):
    proc, results = verified(version)
    assert patch_id in results, proc.stdout + proc.stderr
    result = results[patch_id]
    assert result["verdict"] == "PASS", result
    assert result["arms"]["control"]["bug"] is True
    assert result["arms"]["patched"]["bug"] is False
    assert result["arms"]["patched"]["outcomes"] == {patch_id: "applied"}  # by the plugin
    assert result["arms"]["patched"]["taken_out"] is True  # and out again, originals back


@pytest.mark.parametrize("version", list(MATRIX))
def test_the_checks_of_a_release_share_one_process_per_arm(verified, version):
    proc, results = verified(version)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = len(MATRIX[version])
    processes = 2 if count > 1 else 2 * count
    assert f"Running {count} check(s), control and patched, in {processes} process(es)" \
        in proc.stderr
    assert "did not finish in the shared process" not in proc.stderr


@pytest.mark.parametrize("patch_id", [p.id for p in CHECKED if p.applied_upstream])
def test_a_release_with_the_fix_upstream_is_not_run_and_passes_the_gate(release, patch_id):
    patch = next(p for p in CHECKED if p.id == patch_id)
    version = str(patch.applied_upstream)
    release(version)
    proc = run_cli("verify", patch_id, "--release", version)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT-RUN" in proc.stdout and "fixed-upstream" in proc.stdout


def test_a_patch_without_a_check_is_not_run_never_passed(release, tmp_path):
    release("0.26.0")
    write_patch(tmp_path, "guard-unchecked", name="round_up",
                fix=GUARDED.format(name="round_up", body=FUNCTIONS["round_up"]),
                pre_fix=[print_of("0.26.0", MATH, "round_up")])
    proc = run_cli("verify", "guard-unchecked", "--release", "0.26.0", "--json",
                   VLLM_PATCHES_CATALOG=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # NOT-RUN: not a failure
    [result] = json.loads(proc.stdout)["results"]
    assert (result["verdict"], result["reason"]) == ("NOT-RUN", "guard-unchecked has no check.py")


# A check that takes the shared process down -----------------------------------------------
# Fixes of vLLM's small math functions that refuse a zero divisor with a ValueError (the
# originals divide by zero); the checks call them with zero.
GUARDED = '''"""Test fix: {name} refuses a zero divisor."""


def {name}(x: int, y: int) -> int:
    if y == 0:
        raise ValueError("{name}: the divisor must not be zero")
    return {body}
'''
CHECK = '''DEVICE = "cpu"


def run():
    {crash}from vllm.utils.math_utils import {name}
    try:
        {name}(5, 0)
    except ZeroDivisionError:
        return {{"bug": True, "detail": "{name}(5, 0) divided by zero"}}
    except ValueError as exc:
        return {{"bug": False, "detail": str(exc)}}
    return {{"bug": False, "detail": "no error"}}
'''
CRASH = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n    "
FUNCTIONS = {"round_up": "((x + y - 1) // y) * y", "round_down": "(x // y) * y",
             "cdiv": "-(x // -y)"}


def guarded_catalogue(root, crashing: str | None = None):
    for name, body in FUNCTIONS.items():
        folder = write_patch(root, f"guard-{name.replace('_', '-')}", name=name,
                             fix=GUARDED.format(name=name, body=body),
                             pre_fix=[print_of("0.26.0", MATH, name)])
        crash = CRASH if name == crashing else ""
        (folder / "check.py").write_text(CHECK.format(name=name, crash=crash))
    return [f"guard-{n.replace('_', '-')}" for n in FUNCTIONS]


def test_a_check_that_crashes_the_shared_process_costs_only_itself(release, tmp_path):
    release("0.26.0")
    ids = guarded_catalogue(tmp_path, crashing="round_up")  # the first of the shared process
    out = tmp_path / "verify.json"
    proc = run_cli("verify", *ids, "--release", "0.26.0", "-o", str(out),
                   VLLM_PATCHES_CATALOG=str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 check(s) did not finish in the shared process" in proc.stderr
    results = {r["patch"]: r for r in json.loads(out.read_text())["results"]}
    crashed = results["guard-round-up"]
    assert crashed["verdict"] == "FAIL" and "SIGSEGV" in crashed["reason"], crashed
    for other in ("guard-round-down", "guard-cdiv"):  # run again, each alone: proven
        assert results[other]["verdict"] == "PASS", results[other]


def test_isolated_gives_each_check_processes_of_its_own(release, tmp_path):
    release("0.26.0")
    ids = guarded_catalogue(tmp_path)
    proc = run_cli("verify", *ids, "--release", "0.26.0", "--isolated",
                   VLLM_PATCHES_CATALOG=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Running 3 check(s), control and patched, in 6 process(es)" in proc.stderr
    assert proc.stdout.count("PASS") == 3


@pytest.mark.parametrize("control, patched, verdict", [
    ({"bug": True}, {"bug": False}, Verdict.PASS),
    ({"bug": True}, {"bug": True}, Verdict.FAIL),
    ({"bug": True}, {"error": "ImportError: x"}, Verdict.FAIL),
    ({"bug": False}, {"bug": False}, Verdict.INCONCLUSIVE),
    ({"error": "boom"}, {"bug": False}, Verdict.INCONCLUSIVE),
])
def test_the_verdict_needs_the_bug_shown_and_gone(control, patched, verdict):
    assert _decide("p", {"control": control, "patched": patched}).verdict == verdict
