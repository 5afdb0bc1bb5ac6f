"""On a CUDA GPU: the Gemma 4 MTP checks show the bug and the fix in real vLLM releases.

Needs the release trees named in ``VLLM_PATCHES_GPU_TREES`` (folders holding
``vllm/``, joined with ``:``); tools/gpu_run.sh unpacks them from .bundle/ and
runs this file with ``pytest -m gpu``. Skipped where there is no CUDA GPU, and
for a release that no tree there holds. The releases are the newest of each
recorded shape of the GPU-checked patches (``vllm_patches.verify.gpu.shapes``), as
tools/gpu_bundle.py bundles them.
"""

import json
import os

import pytest

from tests.helpers import run_cli
from vllm_patches.core.detect import find_vllm
from vllm_patches.verify.gpu.shapes import pre_fix_releases

TREES_ENV = "VLLM_PATCHES_GPU_TREES"


def cuda_here() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda_here(), reason="needs a CUDA GPU")]


def tree_for(version: str):
    for folder in filter(None, os.environ.get(TREES_ENV, "").split(os.pathsep)):
        install = find_vllm(folder)
        if str(install.version) == version:
            return install.location
    pytest.skip(f"no vLLM {version} tree in {TREES_ENV}")


def verify(tree, tmp_path, *args):
    """The CLI as a user runs it, with this environment's extra paths (the bundle's wheels)."""
    report_path = tmp_path / "report.json"
    extra = tuple(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    proc = run_cli("verify", "--target", str(tree), *args, "-o", str(report_path),
                   paths=extra)
    print(proc.stdout, proc.stderr)
    assert report_path.exists(), proc.stderr
    [result] = json.loads(report_path.read_text())["results"]
    return proc, result


def cases(result, arm):
    return {c["case"]: c for c in result["arms"][arm]["data"]["cases"]}


def assert_identical_everywhere(result, trials=5):
    """Every token of every trial (on every rank) identical to eager."""
    ranks = result["tp"] if result["mode"] == "ranks" else 1
    assert result["status"] == "ok", result
    for row in result["sizes"]:
        assert row["matched"] == row["total"] == ranks * trials * row["size"]


def assert_bug_shown(result):
    """A crash (an illegal memory access) or wrong token ids at a size that replays a graph."""
    if result["status"] in ("error", "crashed"):
        return
    assert result["status"] == "ok", result
    assert any(r["matched"] < r["total"] for r in result["sizes"] if r["path"] != "eager"), result


@pytest.mark.parametrize("version", pre_fix_releases("gemma4-mtp-stable-lm-head"))
def test_stable_lm_head_control_fails_and_patched_matches_eager_in_both_scenarios(version,
                                                                                  tmp_path):
    """The newest release of each recorded shape of the stable-lm-head patch (0.22.1)."""
    proc, result = verify(tree_for(version), tmp_path, "gemma4-mtp-stable-lm-head")
    assert proc.returncode == 0 and result["verdict"] == "PASS", result["reason"]
    patched, control = cases(result, "patched"), cases(result, "control")
    assert set(patched) == set(control) == {"capture", "reload"}
    for case in patched.values():
        assert case["mode"] in ("emulated", "ranks") and case["gpu"]
        assert_identical_everywhere(case)
    for case in control.values():
        assert_bug_shown(case)


@pytest.mark.parametrize("version", pre_fix_releases("gemma4-mtp-lm-head-reload"))
def test_each_reload_shape_control_fails_upstreams_reload_and_patched_matches(version, tmp_path):
    """The newest release of each recorded shape of the reload patch (0.28.0, 0.33.0)."""
    proc, result = verify(tree_for(version), tmp_path, "gemma4-mtp-lm-head-reload")
    assert proc.returncode == 0 and result["verdict"] == "PASS", result["reason"]
    patched = cases(result, "patched")["reload"]
    assert patched["applied"] == {"gemma4-mtp-lm-head-reload": "applied"}  # by the import hook
    assert_identical_everywhere(patched)
    assert_bug_shown(cases(result, "control")["reload"])
