"""A command that must download a release's wheel says so before pip starts."""

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
@pytest.mark.parametrize("args", [["diff", "--release", "0.99.0"],
                                  ["export", "stop-string-earliest-match", "--release",
                                   "0.99.0"]])
def test_a_release_not_in_the_cache_is_announced_then_its_failure_is_one_sentence(tmp_path,
                                                                                 args):
    proc = run_cli(*args, VLLM_PATCHES_CACHE=str(tmp_path / "cache"))
    assert proc.returncode == 2
    first, *_, last = proc.stderr.strip().splitlines()
    assert first.startswith("fetching the vLLM 0.99.0 wheel with pip (once, into ")
    assert last.startswith("vllm-patches: ") and "0.99.0" in last
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_a_cached_release_is_not_announced(release):
    release("0.26.0")
    proc = run_cli("diff", "stop-string-earliest-match", "--release", "0.26.0")
    assert proc.returncode == 0 and "fetching" not in proc.stderr
    assert "+++ b/vllm/" in proc.stdout
