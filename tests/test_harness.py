"""The harness pieces that ``vllm-patches verify`` adds, against the real vLLM 0.22.1."""

import pytest

from tests.helpers import run_scenario


@pytest.fixture(scope="module")
def seen(release):
    return run_scenario("verify_harness", release("0.22.1"))


def test_the_proposer_stand_in_runs_vllms_own_methods(seen):
    assert seen["bound_to_vllm_functions"] is True


def test_a_batch_replays_the_smallest_captured_graph_that_fits_else_runs_eager(seen):
    assert seen["graph_size_for"] == {"1": 1, "3": 4, "64": 64, "65": None}


def test_new_weights_are_other_values_with_a_storage_per_shard(seen):
    assert seen["new_shards_own_storage"] is True
    assert seen["new_shards_are_the_chunks"] is True
    assert seen["new_weights_differ"] is True


def test_reload_writes_this_ranks_shard_in_place_and_takes_the_given_shards(seen):
    assert seen["reload_keeps_param_storage"] is True
    assert seen["reload_writes_shard0"] is True
    assert seen["reload_uses_given_shards"] is True
    assert seen["reload_full_weight_is_new"] is True


def test_a_real_rank_holds_its_own_shard_and_leaves_vllms_tp_helpers_alone(seen):
    assert seen["rank1_holds_shard1"] is True
    assert seen["rank1_helpers_untouched"] is True
    assert seen["rank1_tp"] == [2, 1]
    assert seen["emulated_rank1_refused"] is True


def test_the_control_check_sees_runtime_patched_methods(seen):
    assert seen["marked_before"] == []
    assert "_get_full_lm_head_weight" in seen["marked_applied"]
    assert "load_weights" in seen["marked_applied"]
    assert seen["marked_reverted"] == []
