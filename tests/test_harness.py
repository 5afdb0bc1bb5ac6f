"""The Gemma 4 MTP proof's model shell and stand-in proposer against the real vLLM 0.22.1,
and the generic import helpers of the GPU checks (``verify.gpu.imports``)."""

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


# Importing vLLM 0.28.0 and later: the xgrammar stand-in, torch.cuda's streams --------
@pytest.fixture
def no_xgrammar(monkeypatch):
    """xgrammar cannot be imported (whether or not it is installed here); whatever the
    test put under its name in sys.modules goes afterwards."""
    import sys

    class Blocker:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "xgrammar" or name.startswith("xgrammar."):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    before = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "xgrammar"}
    for name in before:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [Blocker(), *sys.meta_path])
    yield
    for name in [k for k in sys.modules if k.split(".")[0] == "xgrammar"]:
        del sys.modules[name]


def test_where_xgrammar_cannot_be_imported_a_stand_in_takes_its_names(no_xgrammar):
    import importlib.util

    from vllm_patches.verify.gpu import imports as harness

    assert harness.stand_in_for_xgrammar() is True
    assert harness.stand_in_for_xgrammar() is True  # once is enough, and it stays
    # What vLLM 0.33.0's modules do with it at module load.
    from xgrammar import Grammar, StructuralTag, normalize_tool_choice  # noqa: F401
    from xgrammar.openai_tool_call_schema import FunctionToolParam
    from xgrammar.structural_tag import AnyTextFormat, SequenceFormat

    made = SequenceFormat(elements=[AnyTextFormat()])
    assert made.kwargs["elements"][0].args == ()
    assert list[FunctionToolParam] is not None and StructuralTag | None is not None
    assert issubclass(StructuralTag, harness.XgrammarStandIn)
    assert Grammar.__module__ == "xgrammar" and AnyTextFormat.__module__ == "xgrammar.structural_tag"
    assert importlib.util.find_spec("xgrammar") is not None
    assert not hasattr(importlib.import_module("xgrammar"), "__version__")
    assert "stand-in for xgrammar" in importlib.import_module("xgrammar").__doc__


def test_an_importable_xgrammar_is_used_as_it_is(no_xgrammar, monkeypatch, tmp_path):
    import sys

    (tmp_path / "xgrammar").mkdir()
    (tmp_path / "xgrammar" / "__init__.py").write_text("REAL = True\n")
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path
                                           if type(f).__name__ != "Blocker"])
    monkeypatch.syspath_prepend(str(tmp_path))

    from vllm_patches.verify.gpu import imports as harness

    assert harness.stand_in_for_xgrammar() is False
    assert sys.modules["xgrammar"].REAL is True


class FakeStream:
    """torch.cuda.Stream where there is no GPU: remembers what it waited on."""

    def __init__(self, *args, **kwargs):
        self.waited_on = None

    def wait_stream(self, other):
        self.waited_on = other


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda as on a GPU machine, as far as the stream functions go, and vLLM's
    torch_utils with its current-stream slot."""
    import sys
    import threading
    import types

    import torch

    default = FakeStream()
    made_current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a, **k: default)
    monkeypatch.setattr(torch.cuda, "stream", lambda *a, **k: "a stream context")
    monkeypatch.setattr(torch.cuda, "set_stream", made_current.append)
    torch_utils = types.ModuleType("vllm.utils.torch_utils")
    torch_utils._current_stream_tls = threading.local()
    monkeypatch.setitem(sys.modules, "vllm.utils.torch_utils", torch_utils)
    return types.SimpleNamespace(default=default, made_current=made_current,
                                 tls=torch_utils._current_stream_tls)


def placeholders(monkeypatch):
    """What vLLM's CPU worker module does to torch.cuda at import (vllm/v1/worker/cpu/shm.py)."""
    import torch

    class Placeholder:
        pass

    monkeypatch.setattr(torch.cuda, "Stream", Placeholder)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a, **k: Placeholder())
    monkeypatch.setattr(torch.cuda, "stream", lambda *a, **k: Placeholder())
    monkeypatch.setattr(torch.cuda, "set_stream", lambda *a, **k: None)


def test_on_cuda_the_stream_functions_come_back_and_a_side_stream_is_current(fake_cuda,
                                                                             monkeypatch):
    import torch

    from vllm_patches.verify.gpu import imports as harness

    saved = {name: getattr(torch.cuda, name) for name in harness.STREAM_FUNCTIONS}
    with harness.keep_torch_cuda_streams():
        placeholders(monkeypatch)
    assert {name: getattr(torch.cuda, name) for name in harness.STREAM_FUNCTIONS} == saved
    side = fake_cuda.tls.value  # what vLLM's current_stream() returns from now on
    assert isinstance(side, FakeStream) and side is not fake_cuda.default
    assert side.waited_on is fake_cuda.default
    assert fake_cuda.made_current == [side]  # by torch's own set_stream, not the placeholder
    with harness.keep_torch_cuda_streams():  # the second import: the same stream stays
        pass
    assert fake_cuda.tls.value is side and fake_cuda.made_current == [side]


def test_without_cuda_the_imports_are_left_as_they_are(fake_cuda, monkeypatch):
    import torch

    from vllm_patches.verify.gpu import imports as harness

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with harness.keep_torch_cuda_streams():
        placeholders(monkeypatch)
    assert torch.cuda.Stream.__name__ == "Placeholder"
    assert getattr(fake_cuda.tls, "value", None) is None
