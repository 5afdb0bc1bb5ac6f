"""The GPU checks' generic helpers, on the CPU: each case in a process of its own (a crash or
a hang stays there), replay against eager size by size, and one arm's line from its cases."""

import pytest
import torch

from vllm_patches.verify.gpu import graphs, isolated

CASES = '''import os, signal, time


def case(case, **settings):
    if case == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if case == "hang":
        time.sleep(60)
    if case == "broken":
        raise ImportError("no module named gemma")
    return {"status": "ok", "sizes": [{"size": 1, "path": "graph 1", "matched": 1,
                                       "total": 1, "error": None}], "trials": 1,
            "settings": settings}
'''


@pytest.fixture
def cases_file(tmp_path):
    path = tmp_path / "check.py"
    path.write_text(CASES)
    return path


def test_each_case_runs_in_its_own_process_and_a_crash_or_hang_stays_there(cases_file,
                                                                          monkeypatch):
    monkeypatch.setenv("VLLM_PATCHES", "none")  # the control
    results = isolated.run_cases(str(cases_file), "case", [
        {"case": "segv"}, {"case": "hang"}, {"case": "fine", "vocab": 7}, {"case": "broken"}],
        timeout=5)
    segv, hang, fine, broken = results
    assert segv["status"] == graphs.CRASHED and "SIGSEGV" in segv["error"]
    assert hang["status"] == graphs.TIMEOUT and "5 s" in hang["error"]
    assert fine["status"] == "ok" and fine["settings"] == {"vocab": 7}
    assert fine["arm"] == "control" and fine["applied"] == {}
    assert broken["status"] == graphs.SETUP_ERROR
    assert broken["error"] == "ImportError: no module named gemma"
    assert [r["case"] for r in results] == ["segv", "hang", "fine", "broken"]


def test_the_arm_is_the_control_exactly_where_the_selection_is_none(monkeypatch):
    monkeypatch.setenv("VLLM_PATCHES", "none")
    assert isolated.current_arm() == "control"
    monkeypatch.setenv("VLLM_PATCHES", "gemma4-mtp-stable-lm-head")
    assert isolated.current_arm() == "patched"


def test_replay_against_eager_counts_every_element_and_stops_at_the_first_error():
    rows = []

    def trial(size, number):
        if size == 8:
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore")
        got = torch.arange(size)
        return got, torch.where(got == 1, -1, got) if size == 4 else got

    with pytest.raises(RuntimeError):
        graphs.compare(graphs.graph_sizes_first([8, 65, 1, 4], (1, 4, 8)), 3,
                       lambda s: f"graph {s}", trial, rows)
    assert [(r["size"], r["matched"], r["total"], r["error"]) for r in rows] == [
        (1, 3, 3, None), (4, 9, 12, None),
        (8, 0, 0, "CUDA error: an illegal memory access was encountered")]


def test_graph_sizes_come_first_and_eager_sizes_last():
    assert graphs.graph_sizes_first([65, 1, 200, 3, 64, 3], (1, 2, 4, 64)) == [1, 3, 64, 65, 200]


def test_errors_read_as_their_first_line():
    assert graphs.error_text(RuntimeError("CUDA error: an illegal memory access\nasync")) == \
        "CUDA error: an illegal memory access"
    assert graphs.error_text(KeyError("x")) == "KeyError: 'x'"
    assert graphs.error_text(ValueError()) == "ValueError"


def case(name, status="ok", rows=((1, 2, 2),), error=None, where=None):
    return {"case": name, "status": status, "error": error, "where": where, "trials": 2,
            "sizes": [{"size": s, "path": f"graph {s}", "matched": m, "total": t,
                       "error": None} for s, m, t in rows]}


def test_the_bug_shows_where_a_case_crashed_or_one_element_differs():
    line = graphs.arm_verdict([case("capture", "error", (), "CUDA error: boom", "size 1"),
                               case("reload", rows=((1, 2, 2), (4, 0, 8)))])
    assert line["bug"] is True
    assert line["detail"] == ("capture: crashed at size 1: CUDA error: boom; "
                              "reload: differs from eager at size(s) 4 (0% identical there)")
    assert [c["case"] for c in line["data"]["cases"]] == ["capture", "reload"]


def test_no_bug_only_where_every_case_matched_eager_everywhere():
    line = graphs.arm_verdict([case("capture"), case("reload", rows=((1, 2, 2), (65, 130, 130)))])
    assert line["bug"] is False
    assert line["detail"] == ("capture: identical to eager at all 1 sizes, 2 trial(s) each; "
                              "reload: identical to eager at all 2 sizes, 2 trial(s) each")


def test_a_case_that_could_not_start_is_an_error_of_the_arm_never_a_verdict():
    with pytest.raises(graphs.SetupError, match="reload: no vLLM"):
        graphs.arm_verdict([case("capture"), case("reload", "setup-error", (), "no vLLM")])
