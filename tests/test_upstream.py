"""``verify --upstream-tests``' engine on a synthetic patch and a synthetic sdist.

The patch is tests/synthetic.py's ``FUNCTION`` (``round_up`` of a real release, plus 1000);
the "sdist" is a ``tests/`` folder this file writes, laid out as vLLM's: a heavy root
conftest.py (here: one that cannot be imported), a sub-package with its own conftest, a
regression test that fails unpatched, and module tests that pass, regress, need the
network, a GPU, or a fixture of the root conftest. Real pytest processes run them against
the real 0.17.0 tree, control and patched (the fix put in by the plugin), as ``verify`` runs
a catalogued patch's tests. The built-in catalogue's own upstream tests are
tests/test_upstream_catalogue.py's.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from packaging.version import Version

from tests.synthetic import FIRST, FUNCTION
from vllm_patches.core.catalog import UpstreamTests
from vllm_patches.core.detect import find_vllm
from vllm_patches.verify.checks import Verdict
from vllm_patches.verify.upstream import Part, verify_upstream

pytestmark = pytest.mark.usefixtures("synthetic_env")

REGRESSION = "tests/synthetic/test_regression.py"
MODULE = "tests/synthetic/test_module.py"
HELD = "tests/synthetic/test_held.py"

FILES = {
    "tests/__init__.py": "",
    # vLLM's root conftest imports its test dependencies: this one cannot be imported here.
    "tests/conftest.py": """
        import pytest
        import vllm_patches_no_such_test_dependency  # noqa: F401

        @pytest.fixture
        def root_only():
            return 3
    """,
    "tests/synthetic/__init__.py": "",
    "tests/synthetic/conftest.py": """
        import pytest

        @pytest.fixture
        def sub_value():
            return 4
    """,
    REGRESSION: """
        from vllm.utils.math_utils import round_up

        def test_the_fix_adds_its_extra(sub_value):
            assert round_up(3, sub_value) == 1004

        def test_unrelated():
            assert round_up(1, 1) >= 1
    """,
    MODULE: """
        import socket

        import pytest
        import torch
        from vllm.utils.math_utils import round_up

        def test_plain_round_up():
            assert round_up(3, 4) == 4

        def test_still_rounds_up():
            assert round_up(8, 4) >= 8

        def test_needs_the_network():
            socket.create_connection(("192.0.2.1", 80), timeout=5)

        def test_needs_a_gpu():
            torch.zeros(1, device="cuda")

        def test_needs_the_root_conftest(root_only):
            assert root_only == 3

        @pytest.mark.skip(reason="upstream skips it")
        def test_skipped():
            pass
    """,
    HELD: """
        from vllm.utils.math_utils import round_up

        def test_still_rounds_up():
            assert round_up(8, 4) >= 8
    """,
}


def write_sdist(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    return write_sdist(tmp_path_factory.mktemp("sdist"), FILES)


@pytest.fixture(scope="module")
def install(release):
    return find_vllm(release(FIRST))


@pytest.fixture
def run(synthetic, sdist, install, tmp_path, monkeypatch):
    """``run(regression=(...), module=(...), root=sdist)`` -> the FUNCTION patch's result."""
    monkeypatch.setenv("VLLM_PATCHES_CACHE", str(tmp_path / "cache"))  # the staged copies

    def go(regression=(REGRESSION,), module=(MODULE,), none=None, root=sdist):
        patch = dataclasses.replace(synthetic.patch(FUNCTION), upstream_tests=UpstreamTests(
            Version(FIRST) if regression else None, tuple(regression), tuple(module), none))
        fetched = []

        def fetch(version, progress=None):
            fetched.append(version)
            return root

        lines = []
        [result] = verify_upstream([patch], install, from_target=True, timeout=300,
                                   echo=lines.append, fetch=fetch)
        return result, lines, fetched

    return go


def outcomes(result, part: Part, arm: str) -> dict[str, tuple[str, str]]:
    found = result.part(part).arms[arm]
    return {test.split("::")[-1]: outcome for test, outcome in found.items()}


def test_the_regression_test_fails_unpatched_and_passes_patched(run):
    result, lines, fetched = run(module=())
    part = result.part(Part.REGRESSION)
    assert result.verdict == Verdict.PASS and part.verdict == Verdict.PASS, result
    assert outcomes(result, Part.REGRESSION, "control") == {
        "test_the_fix_adds_its_extra": ("failed", "assert 4 == 1004"),
        "test_unrelated": ("passed", "")}
    assert {o for o, _ in outcomes(result, Part.REGRESSION, "patched").values()} == {"passed"}
    assert part.decisive == (f"{REGRESSION}::test_the_fix_adds_its_extra",)
    assert fetched == [FIRST] and any("regression patched: 2 passed" in ln for ln in lines)


def test_a_module_test_that_passes_unpatched_and_fails_patched_is_a_named_regression(run):
    result, _, _ = run()
    module = result.part(Part.MODULE)
    assert module.verdict == Verdict.FAIL and result.verdict == Verdict.FAIL
    assert module.decisive == (f"{MODULE}::test_plain_round_up",)
    assert "test_plain_round_up" in result.reason
    control, patched = (outcomes(result, Part.MODULE, arm) for arm in ("control", "patched"))
    assert control["test_plain_round_up"][0] == "passed"
    assert patched["test_plain_round_up"][0] == "failed"
    assert control["test_still_rounds_up"] == patched["test_still_rounds_up"] == ("passed", "")


def test_what_needs_the_network_a_gpu_or_the_root_conftest_is_skipped_with_why(run):
    result, _, _ = run(regression=(), none="a synthetic fix")
    for arm in ("control", "patched"):
        found = outcomes(result, Part.MODULE, arm)
        assert found["test_needs_the_network"] == (
            "skipped", "needs the network or a model download (run offline)")
        assert found["test_needs_a_gpu"] == ("skipped", "needs a GPU")
        outcome, why = found["test_needs_the_root_conftest"]
        assert outcome == "skipped" and "root_only" in why
        assert "vllm_patches_no_such_test_dependency" in why
        assert found["test_skipped"] == ("skipped", "upstream skips it")
    counts = result.part(Part.MODULE).counts("control")
    assert counts == {"passed": 2, "failed": 0, "skipped": 4, "error": 0}


def test_a_root_conftest_that_can_be_imported_gives_its_fixtures(run, tmp_path):
    files = {**FILES, "tests/conftest.py": FILES["tests/conftest.py"].replace(
        "import vllm_patches_no_such_test_dependency  # noqa: F401", "")}
    root = write_sdist(tmp_path / "importable", files)
    result, _, _ = run(regression=(), module=(MODULE,), none="synthetic", root=root)
    for arm in ("control", "patched"):
        assert outcomes(result, Part.MODULE, arm)["test_needs_the_root_conftest"] == (
            "passed", "")


def test_module_tests_that_all_hold_pass_and_absent_ones_are_named(run):
    missing = "tests/synthetic/test_not_in_this_release.py"
    result, _, _ = run(regression=(), module=(HELD, missing), none="no regression test")
    module = result.part(Part.MODULE)
    assert result.verdict == module.verdict == Verdict.PASS, result
    assert module.absent == (missing,) and module.tests == (HELD,)


def test_a_regression_test_that_passes_unpatched_is_inconclusive(run):
    result, _, _ = run(regression=(f"{REGRESSION}::test_unrelated",), module=())
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "passes here unpatched" in result.reason


def test_nothing_declared_or_nothing_runnable_is_not_run_with_why(run):
    result, _, _ = run(regression=(), module=(), none="upstream added no test")
    assert result.verdict == Verdict.NOT_RUN and result.reason == "upstream added no test"
    result, _, _ = run(regression=(f"{MODULE}::test_needs_a_gpu",), module=())
    assert result.verdict == Verdict.NOT_RUN and "needs a GPU" in result.reason
