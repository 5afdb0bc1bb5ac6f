"""``vllm-patches verify ID``: each patch's own check.py, control and patched, on the releases
its metadata says it affects (the first and the last of the releases the tests know), and on
the release that ships the fix."""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from tests.helpers import run_cli
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import Verdict, _decide, check_file

# Releases whose .py trees the tests fetch for behaviour checks.
KNOWN = ("0.17.0", "0.20.2", "0.22.1", "0.23.0", "0.26.0", "0.27.0", "0.33.0")
CHECKED = [p for p in load_catalog() if check_file(p) is not None]


def affected(patch) -> list[str]:
    inside = [v for v in KNOWN if patch.affects(Version(v))]
    return sorted({inside[0], inside[-1]}, key=Version) if inside else []


CASES = [(p.id, v) for p in CHECKED for v in affected(p)]


@pytest.mark.parametrize("patch_id, version", CASES)
def test_the_control_shows_the_bug_and_the_patched_arm_does_not(release, tmp_path, patch_id,
                                                                version):
    release(version)
    out = tmp_path / "verify.json"
    proc = run_cli("verify", patch_id, "--release", version, "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [result] = json.loads(out.read_text())["results"]
    assert result["verdict"] == "PASS"
    assert result["arms"]["control"]["bug"] is True and result["arms"]["patched"]["bug"] is False


@pytest.mark.parametrize("patch_id", [p.id for p in CHECKED if p.applied_upstream])
def test_a_release_with_the_fix_upstream_is_not_run_and_passes_the_gate(release, patch_id):
    patch = next(p for p in CHECKED if p.id == patch_id)
    version = str(patch.applied_upstream)
    release(version)
    proc = run_cli("verify", patch_id, "--release", version)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT-RUN" in proc.stdout and "fixed-upstream" in proc.stdout


def test_a_patch_without_a_check_cannot_pass(release):
    without = next(p for p in load_catalog() if check_file(p) is None)
    proc = run_cli("verify", without.id, "--release", "0.22.1")
    assert proc.returncode == 1 and "NOT-RUN" in proc.stdout


@pytest.mark.parametrize("control, patched, verdict", [
    ({"bug": True}, {"bug": False}, Verdict.PASS),
    ({"bug": True}, {"bug": True}, Verdict.FAIL),
    ({"bug": True}, {"error": "ImportError: x"}, Verdict.FAIL),
    ({"bug": False}, {"bug": False}, Verdict.INCONCLUSIVE),
    ({"error": "boom"}, {"bug": False}, Verdict.INCONCLUSIVE),
])
def test_the_verdict_needs_the_bug_shown_and_gone(control, patched, verdict):
    assert _decide("p", {"control": control, "patched": patched}).verdict == verdict
