"""One arm process: its configuration travels as arguments, it stops at the first error
and says where, and it orders the sizes so that no eager call can hide a stale graph."""

import json
import subprocess
import sys

import pytest

from tests.helpers import python_env
from vllm_patches.verify.gpu.arm import (
    CAPTURED_SIZES,
    DEFAULT_SIZES,
    ArmConfig,
    error_text,
    graph_sizes_first,
)

SMALL = ("--vocab", "4096", "--hidden", "32", "--trials", "2", "--device", "cpu")


def test_a_config_survives_the_trip_through_the_command_line():
    config = ArmConfig(arm="control", scenario="reload", tp=4, mode="ranks", sizes=(1, 3, 70),
                       trials=7, vocab=8192, hidden=64, device="cpu", backend="gloo",
                       kv_fraction=0.125, seed=3)
    assert ArmConfig.from_argv(config.argv()) == config


def test_defaults_are_the_gemma4_assistants_real_sizes():
    config = ArmConfig(arm="patched", scenario="capture")
    assert (config.vocab, config.hidden, config.centroids, config.top_k) == (262144, 256, 2048, 32)
    assert set(CAPTURED_SIZES) <= set(DEFAULT_SIZES)
    assert any(s > max(CAPTURED_SIZES) for s in DEFAULT_SIZES)  # the eager fallback


def test_an_unknown_arm_is_refused():
    with pytest.raises(SystemExit):
        ArmConfig.from_argv(["--arm", "both", "--scenario", "capture"])


def test_graph_sizes_come_first_and_eager_sizes_last():
    assert graph_sizes_first([65, 1, 200, 3, 64, 3]) == [1, 3, 64, 65, 200]


def test_errors_read_as_their_first_line():
    assert error_text(RuntimeError("CUDA error: an illegal memory access was encountered\n"
                                   "CUDA kernel errors might be asynchronously reported")) == \
        "CUDA error: an illegal memory access was encountered"
    assert error_text(KeyError("x")) == "KeyError: 'x'"
    assert error_text(ValueError()) == "ValueError"


@pytest.fixture(scope="module")
def arm_023_reload(release):
    """Both arms of the reload scenario on 0.23.0, whose own fix forgets its cache on reload
    (the two processes run at once)."""
    env = python_env(release("0.23.0"))
    procs = {
        arm: subprocess.Popen([sys.executable, "-m", "vllm_patches.verify.gpu.arm", "--arm", arm,
                               "--scenario", "reload", *SMALL],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for arm in ("control", "patched")
    }
    out = {}
    for arm, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        out[arm] = json.loads(stdout.strip().splitlines()[-1])
    return out


def test_the_control_stops_at_the_first_error_and_says_where(arm_023_reload):
    control = arm_023_reload["control"]
    assert control["status"] == "error"
    assert control["where"] == "size 1"
    assert "freed tensor" in control["error"]
    assert [row["size"] for row in control["sizes"]] == [1]
    assert control["applied"] == []


def test_the_patched_arm_reports_what_it_applied_and_every_size(arm_023_reload):
    patched = arm_023_reload["patched"]
    assert patched["status"] == "ok"
    applied = {o["id"]: o["outcome"] for o in patched["applied"]}
    assert applied["gemma4-mtp-lm-head-reload"] == "already-applied"  # by the import hook
    assert [row["size"] for row in patched["sizes"]] == graph_sizes_first(DEFAULT_SIZES)
    for row in patched["sizes"]:
        assert row["matched"] == row["total"] == 2 * row["size"]
    assert patched["vllm"] == "0.23.0"
