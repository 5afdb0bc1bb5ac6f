"""Runtime mode on the real vLLM releases, each scenario in a fresh interpreter.

The harness shell is built from the release's own Gemma4MTP class with TP=2
emulated by replacing the module's TP helpers, exactly the names the fix
looks up at call time.
"""

import pytest

from tests.conftest import AFFECTED, FIXED
from tests.helpers import run_scenario


def outcome_of(result, patch_id):
    return next(o["outcome"] for o in result["outcomes"] if o["id"] == patch_id)


@pytest.mark.parametrize("version", [AFFECTED[0], AFFECTED[-1]])
def test_affected_release_unpatched_gathers_a_new_temporary_each_call(release, version):
    seen = run_scenario("runtime_behaviour", release(version))
    assert seen["gathers_for_5_calls"] == 5
    assert not seen["one_storage"]
    assert not seen["reload_same_storage"]


@pytest.mark.parametrize("version", [AFFECTED[0], AFFECTED[-1]])
def test_apply_keeps_one_gathered_weight_and_refreshes_it_in_place(release, version):
    seen = run_scenario("runtime_behaviour", release(version), "--apply")
    assert outcome_of(seen, "gemma4-mtp-stable-lm-head") == "applied"
    assert outcome_of(seen, "gemma4-mtp-lm-head-reload") == "skipped"
    assert seen["gathers_for_5_calls"] == 1
    assert seen["one_storage"] and seen["values_right"]
    # load_weights([]) after new weights: same storage, new values, so CUDA
    # graphs captured over the old tensor read the new weights.
    assert seen["reload_same_storage"]
    assert seen["reload_values_right"] and seen["old_reference_sees_new_values"]
    assert set(seen["marked"]) == {"gemma4-mtp-stable-lm-head"}
    # revert() leaves the class exactly as vLLM made it.
    assert seen["class_names_after_revert"] == []
    assert seen["marked_after_revert"] == []


def test_tp1_stays_a_view_of_the_parameter(release):
    seen = run_scenario("runtime_behaviour", release(AFFECTED[-1]), "--apply", "--tp", "1")
    assert outcome_of(seen, "gemma4-mtp-stable-lm-head") == "applied"
    assert seen["gathers_for_5_calls"] == 0
    assert seen["view_of_parameter"]


def test_upstream_fix_caches_but_its_reload_changes_storage(release):
    seen = run_scenario("runtime_behaviour", release(FIXED))
    assert seen["gathers_for_5_calls"] == 1 and seen["one_storage"]
    assert not seen["reload_same_storage"]  # graphs captured before would read freed memory


def test_reload_patch_keeps_storage_on_the_fixed_release(release):
    seen = run_scenario("runtime_behaviour", release(FIXED), "--apply")
    assert outcome_of(seen, "gemma4-mtp-lm-head-reload") == "applied"
    assert outcome_of(seen, "gemma4-mtp-stable-lm-head") == "skipped"
    assert seen["reload_same_storage"] and seen["reload_values_right"]
    assert seen["class_names_after_revert"] == []


def test_guards_threads_forks_and_strict_mode(release):
    seen = run_scenario("runtime_guards", release(AFFECTED[-1]))
    assert seen["threads"] == ["already-applied"] * 7 + ["applied"]
    assert seen["revert_twice"] == ["reverted", "not-applied"]
    assert seen["modified"]["outcome"] == "refused"
    assert "Gemma4MTP._get_full_lm_head_weight" in seen["modified"]["message"]
    assert seen["strict"].startswith("PatchError: ")
    assert seen["forced"] == "applied" and seen["forced_wraps_fork_code"]
    assert seen["fork_code_back"]


def test_a_reloaded_module_is_patched_again_not_reported_as_already_applied(release):
    seen = run_scenario("runtime_reload", release(AFFECTED[-1]))
    assert seen["first"] == "applied"
    assert not seen["applied_after_reload"] and not seen["live_marked_after_reload"]
    assert seen["second"] == "applied" and seen["live_marked_after_second"]
    assert seen["third"] == "already-applied"
    assert seen["revert"] == "reverted" and not seen["live_marked_after_revert"]


def test_a_fork_labelled_past_the_fix_over_pre_fix_code_is_patched_at_run_time(release):
    seen = run_scenario("runtime_behaviour", release(AFFECTED[-1]), "--apply",
                        VLLM_PATCHES_VLLM_VERSION="0.24.0+acme.1")
    assert outcome_of(seen, "gemma4-mtp-stable-lm-head") == "applied"
    assert seen["gathers_for_5_calls"] == 1
