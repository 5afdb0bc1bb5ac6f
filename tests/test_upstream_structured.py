"""Upstream's structured-output tests on the release trees, with vLLM's grammar backends.

vLLM's own tests of structured outputs import the grammar backends that this project's venv
lacks (so tests/test_catalog_check.py finds them "not run" there, for want of llguidance):
here they run with the backends on ``PYTHONPATH`` (tests/backends.py), on the last affected
release of each structured-output patch that declares a regression test, and must PASS:
upstream's test fails unpatched and passes with the fix in, and no module test regresses.
The first affected releases are older than the API those tests call (``since``, or a name
the test imports that the release lacks): there the verdict is NOT-RUN, saying why.
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from tests.backends import structured_backends
from tests.helpers import run_cli
from vllm_patches.core.catalog import load_catalog

pytestmark = pytest.mark.slow


def last_affected(patch) -> str:
    recorded = {r for t in patch.targets for w in t.wraps for rs in w.seen.values()
                for r in rs if patch.affects(Version(r))}
    return max(recorded, key=Version)


STRUCTURED = [p for p in load_catalog() if p.upstream_tests and p.upstream_tests.regression
              and any(t.module.startswith(("vllm.v1.structured_output", "vllm.sampling_params"))
                      for t in p.targets) and "structured" in p.id]


@pytest.fixture(scope="module")
def backends():
    try:
        return structured_backends()
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("patch", STRUCTURED, ids=lambda p: p.id)
def test_upstreams_structured_output_regression_test_passes_with_the_fix(backends, patch,
                                                                        release, tmp_path):
    version = last_affected(patch)
    release(version)
    out = tmp_path / "report.json"
    proc = run_cli("verify", patch.id, "--release", version, "--upstream-tests", "-o",
                   str(out), paths=(backends,), timeout=900)
    [result] = json.loads(out.read_text())["upstream_tests"]
    assert result["verdict"] == "PASS", (result["reason"], proc.stderr[-2000:])
    regression = next(p for p in result["parts"] if p["part"] == "regression")
    assert regression["counts"]["control"]["failed"] >= 1
    assert regression["counts"]["patched"] == {**regression["counts"]["patched"], "failed": 0,
                                               "error": 0}
    assert proc.returncode == 0, proc.stderr[-2000:]
