"""A module-level function as a patch target, on real releases: vLLM's check_stop_strings
(stop-string-earliest-match, vllm#49391) at run time, with a from-import copy, and in
source mode."""

import pytest

from tests.helpers import run_scenario

PATCH = "stop-string-earliest-match"
FIRST, LAST = "0.17.0", "0.26.0"  # the first and last affected releases


@pytest.mark.parametrize("version", [FIRST, LAST])
def test_runtime_patches_the_function_and_its_copies_and_takes_them_back(release, version):
    seen = run_scenario("function_target", release(version))
    assert seen["bug_before"] is True  # the release shows the bug
    assert seen["apply"] == ["applied"] and seen["bug_after"] is False
    assert seen["copy_rebound"] and seen["marked"] and seen["original_kept"]
    assert seen["verdict"] == "applied" and seen["again"] == ["already-applied"]
    assert seen["revert"] == ["reverted"] and seen["back"] and seen["orig_name_gone"]
    # A module imported while the fix was in took the fixed function: revert takes it back.
    assert seen["later_copy_patched"] and seen["later_copy_back"]
    assert seen["bug_after_revert"] is True
    # take_out reverts and proves it (clean): nothing left, the function and its copy original;
    # a second one finds nothing to take out (not clean).
    assert seen["take_out"] == ["reverted", [], True, True, True]
    assert seen["take_out_again"] == ["not-applied", [], False]


def test_the_fixed_release_is_left_alone(release):
    seen = run_scenario("function_target", release("0.27.0"))
    assert seen["bug_before"] is False
    assert seen["apply"] == ["skipped"]
