"""The exporter across processes, through vLLM's own plugin loader on a real release tree
and the synthetic catalogue (tests/synthetic.py):
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, as vLLM sets it up)
sums the gauges of a process and of the children it forks and spawns, as vLLM's /metrics does;
``VLLM_PATCHES_METRICS=0`` leaves the folder without any vllm_patches_ value."""

from __future__ import annotations

import json

import pytest

from tests import promql
from tests.helpers import SCENARIOS, run_python
from tests.synthetic import LAST, METHOD
from vllm_patches.runtime import metrics, scrape

pytestmark = pytest.mark.usefixtures("synthetic_env")


def run(release, plugin_site, tmp_path, *children: str, **env
        ) -> tuple[dict, scrape.ServerMetrics]:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    proc = run_python([str(SCENARIOS / "metrics_processes.py"), *children], plugin_site,
                      release(LAST), PROMETHEUS_MULTIPROC_DIR=str(folder), **env)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, scrape.parse(result["page"], "scenario")


def test_every_process_counts_once_in_the_multiprocess_page(release, plugin_site, tmp_path):
    result, server = run(release, plugin_site, tmp_path, "fork", "spawn")
    assert len(set(result["pids"])) == 3
    assert result["prometheus_before_arming"] is False  # the import hook set the gauges
    assert server.multiprocess is True and server.armed == 3
    assert server.vllm == (LAST,)
    assert server.patches[METHOD.id].in_place == 3  # the forked child: inherited
    for counts in server.patches.values():  # each process judged each patch of the module
        assert counts.judged == 3, counts
    assert scrape.check(server) is None
    assert promql.firing("VllmPatchMissing", {"pod": result["page"]}) == {}


def test_metrics_off_leaves_no_value_in_the_shared_folder(release, plugin_site, tmp_path):
    result, server = run(release, plugin_site, tmp_path, VLLM_PATCHES_METRICS="0")
    assert not server.found
    assert metrics.PREFIX not in result["page"]
    assert not [p for p in (tmp_path / "prometheus").iterdir()
                if metrics.PREFIX.encode() in p.read_bytes()]
