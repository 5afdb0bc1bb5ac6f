"""Runtime mode on the real vLLM releases, each scenario in a fresh interpreter.

The engine (apply, already-applied, revert, take_out, threads, a fork's change, strict and
forced, a reload, from-imported copies, version labels) runs on the synthetic catalogue
(tests/synthetic.py) on two releases. The Gemma 4 MTP patches' own behaviour runs on a
harness shell built from the release's own Gemma4MTP class with TP=2 emulated by replacing
the module's TP helpers, exactly the names the fix looks up at call time.
"""

import pytest

from tests.conftest import GEMMA4_FIXED_RELEASE, GEMMA4_STABLE_RELEASES
from tests.helpers import run_scenario
from tests.synthetic import EXTRA, FIXED, FUNCTION, METHOD, RELEASES, SHAPES, SPECS

AFFECTED, FIXED_RELEASE = GEMMA4_STABLE_RELEASES, GEMMA4_FIXED_RELEASE


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
    seen = run_scenario("runtime_behaviour", release(FIXED_RELEASE))
    assert seen["gathers_for_5_calls"] == 1 and seen["one_storage"]
    assert not seen["reload_same_storage"]  # graphs captured before would read freed memory


def test_reload_patch_keeps_storage_on_the_fixed_release(release):
    seen = run_scenario("runtime_behaviour", release(FIXED_RELEASE), "--apply")
    assert outcome_of(seen, "gemma4-mtp-lm-head-reload") == "applied"
    assert outcome_of(seen, "gemma4-mtp-stable-lm-head") == "skipped"
    assert seen["reload_same_storage"] and seen["reload_values_right"]
    assert seen["class_names_after_revert"] == []


# The engine, on the synthetic catalogue ----------------------------------------------------
@pytest.fixture(scope="module", params=RELEASES)
def seen(request, release, synthetic):
    """One run of the synthetic runtime scenario on each release: (release, its JSON)."""
    version = request.param
    return version, run_scenario("synthetic_runtime", release(version), **synthetic.env)


def applicable(spec, version):
    return not spec.fixed(version)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_apply_wraps_the_function_and_revert_gives_vllm_s_own_back(seen, spec):
    version, data = seen
    one = data["patches"][spec.id]
    if not applicable(spec, version):
        assert (one["apply"], one["verdict"], one["names"]) == ("skipped", "fixed-upstream", [])
        assert one["revert"] == "not-applied" and one["back"]
        return
    assert (one["apply"], one["marked"], one["verdict"]) == ("applied", True, "applied")
    assert set(one["names"]) == {spec.original, *spec.adds}
    assert one["again"] == "already-applied"
    assert (one["revert"], one["revert_again"]) == ("reverted", "not-applied")
    assert one["back"] and one["names_after_revert"] == []
    # take_out reverts and proves it (clean); a second one finds nothing to take out.
    assert one["take_out"] == ["reverted", [], True]
    assert one["take_out_again"] == ["not-applied", [], False]


@pytest.mark.parametrize("spec", [METHOD, FUNCTION, FIXED], ids=lambda s: s.id)
def test_the_fix_runs_while_applied_and_vllm_s_code_after_revert(seen, spec):
    """The method wrap calls a method its fix added; the function wrap vLLM's original."""
    version, data = seen
    one = data["patches"][spec.id]
    if not applicable(spec, version):
        assert one["after"] == one["before"]
        return
    expected = "synthetic" if spec is FIXED else one["before"] + EXTRA
    assert one["after"] == expected and one["after_revert"] == one["before"]


def test_threads_applying_at_once_apply_it_once(seen):
    _, data = seen
    assert data["threads"] == ["already-applied"] * 7 + ["applied"]


@pytest.mark.parametrize("spec", [METHOD, FUNCTION], ids=lambda s: s.id)
def test_a_fork_s_change_is_refused_strict_raises_force_wraps_it(seen, spec):
    version, data = seen
    fork = data["fork"][spec.id]
    assert (fork["outcome"], fork["verdict"]) == ("refused", "target-modified")
    assert spec.qualname in fork["message"] and "a fork changed it" in fork["message"]
    assert fork["strict"].startswith("PatchError: ") and spec.qualname in fork["strict"]
    assert fork["forced"] == "applied" and fork["forced_wraps_fork_code"]
    assert fork["fork_code_back"]


def test_from_imported_copies_are_rebound_and_put_back(seen):
    _, data = seen
    copies = data["copies"]
    assert copies["apply"] == "applied" and copies["early_rebound"] and copies["early_marked"]
    # A module imported while the fix was in took the fixed function: revert takes it back.
    assert copies["later_marked"]
    assert copies["revert"] == "reverted" and copies["back"] and copies["orig_name_gone"]


def test_the_shape_decides_before_the_version_label(seen):
    """Pre-fix code is patched whatever the version says; upstream's fix is left alone."""
    version, data = seen
    for label, states in data["labels"].items():
        for spec in SPECS:
            expected = "fixed-upstream" if spec.fixed(version) else "applicable"
            assert states[spec.id] == expected, (label, spec.id)


def test_a_reloaded_class_is_patched_again_not_reported_as_already_applied(seen):
    _, data = seen
    again = data["reload"][METHOD.id]
    assert again["first"] == "applied"
    assert not again["applied_after_reload"] and not again["marked_after_reload"]
    assert again["second"] == "applied" and again["marked_after_second"]
    assert again["third"] == "already-applied"
    assert again["revert"] == "reverted" and not again["marked_after_revert"]


def test_a_reloaded_module_s_function_is_patched_again(seen):
    """A reload runs the module's code in the same globals: vLLM's function is fresh, the
    original the wrap kept lingers. That leftover is cleaned, not read as part of a fix."""
    _, data = seen
    again = data["reload"][FUNCTION.id]
    assert again["first"] == "applied"
    assert not again["applied_after_reload"] and not again["marked_after_reload"]
    assert again["verdict_after_reload"] == "applicable"
    assert again["second"] == "applied" and again["marked_after_second"]
    assert again["answer_after_second"] == again["unpatched"] + EXTRA
    assert again["third"] == "already-applied"
    assert again["revert"] == "reverted" and not again["marked_after_revert"]
    assert again["names_after_revert"] == [] and again["answer_after_revert"] == again["unpatched"]


def test_a_copy_taken_before_the_reload_follows_the_patch_applied_again(seen):
    """A module that from-imported the fix before the reload gets the new fix, and vLLM's
    fresh function on revert (not the old fix, calling an original that is gone)."""
    _, data = seen
    again = data["reload"][FUNCTION.id]
    assert again["copy_holds_the_new_fix"] and again["copy_back"]


def test_vllm_s_function_kept_as_the_original_after_a_reload_is_still_part_of_a_fix(seen):
    """What an interrupted apply leaves (the original's name holds the function that still
    runs) is refused as before; once it is gone the patch goes in."""
    _, data = seen
    planted = data["planted"]
    assert planted["outcome"] == "refused" and "holds part of a vllm-patches fix" in planted[
        "message"]
    assert (planted["then"], planted["revert"]) == ("applied", "reverted")


def test_the_synthetic_shapes_differ_between_the_releases():
    """What makes ``SHAPES`` worth its place: one patch, two recorded pre-fix shapes."""
    assert SHAPES.fingerprint(RELEASES[0]) != SHAPES.fingerprint(RELEASES[-1])
    assert FIXED.fixed(RELEASES[-1]) and not FIXED.fixed(RELEASES[0])
