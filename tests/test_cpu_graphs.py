"""CUDA graphs emulated on the CPU behave as captured graphs do where it matters here:
replay recomputes into the captured output from what the captured inputs hold now, and
a replay that needs a tensor freed since capture fails."""

import gc

import pytest
import torch

from vllm_patches.verify.gpu import cpu_graphs


@pytest.fixture
def emulated():
    cpu_graphs.install()
    yield
    cpu_graphs.uninstall()


def top_rows(hidden, weight):
    """A small get_top_tokens: scores, top-k, a gather, an argmax."""
    scores = hidden @ weight.t()
    _, top = torch.topk(scores, k=2, dim=-1)
    picked = scores.gather(-1, top)
    return top.gather(-1, picked.argmax(-1, keepdim=True)).squeeze(-1)


def capture(hidden, weight):
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = top_rows(hidden, weight)
    return graph, out


def test_install_replaces_torchs_graph_api_and_uninstall_puts_it_back(emulated):
    assert torch.cuda.CUDAGraph is cpu_graphs.EmulatedGraph
    cpu_graphs.uninstall()
    assert torch.cuda.CUDAGraph is not cpu_graphs.EmulatedGraph
    assert torch.cuda.graph is not cpu_graphs.graph
    cpu_graphs.install()


def test_replay_recomputes_from_the_current_input_into_the_captured_output(emulated):
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(50, 8, generator=gen)
    static = torch.zeros(4, 8)
    graph, out = capture(static, weight)
    for _ in range(3):
        hidden = torch.randn(4, 8, generator=gen)
        static.copy_(hidden)
        out.fill_(-1)
        graph.replay()
        assert torch.equal(out, top_rows(hidden, weight))


def test_replay_reads_new_values_written_in_place_into_a_captured_input(emulated):
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(50, 8, generator=gen)
    static = torch.randn(4, 8, generator=gen)
    graph, out = capture(static, weight)
    weight.copy_(torch.randn(50, 8, generator=gen))
    graph.replay()
    assert torch.equal(out, top_rows(static, weight))


def test_replay_of_a_tensor_freed_since_capture_fails(emulated):
    static = torch.randn(4, 8)
    temporary = torch.randn(50, 8)
    graph, _ = capture(static, temporary)
    del temporary
    gc.collect()
    with pytest.raises(cpu_graphs.FreedTensorRead, match=r"freed tensor of shape \[50, 8\]"):
        graph.replay()


def test_tensors_made_during_capture_stay_with_the_graph(emulated):
    static = torch.randn(4, 8)
    weight = torch.randn(50, 8)
    graph, out = capture(static, weight)
    gc.collect()
    graph.replay()  # the intermediates (scores, top-k) are still there
    assert out.shape == (4,)


def test_a_view_that_died_is_still_read_while_its_storage_lives(emulated):
    weight = torch.randn(60, 8)
    static = torch.randn(4, 8)
    graph, out = capture(static, weight[:50])  # the view object dies at once
    gc.collect()
    weight[:50].mul_(-1)
    graph.replay()
    assert torch.equal(out, top_rows(static, weight[:50]))


def test_replay_reads_the_captured_memory_not_whatever_the_name_holds_now(emulated):
    layer = torch.nn.Linear(8, 50, bias=False)
    static = torch.randn(4, 8)
    with torch.no_grad():
        graph, out = capture(static, layer.weight)
        old = layer.weight.data  # keeps the captured storage alive
        layer.weight.data = torch.randn(50, 8)
        graph.replay()
        assert torch.equal(out, top_rows(static, old))
        del old
        gc.collect()
        with pytest.raises(cpu_graphs.FreedTensorRead):
            graph.replay()  # nothing holds the captured storage any more
