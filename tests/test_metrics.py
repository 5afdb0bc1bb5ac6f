"""vllm-patches in vLLM's /metrics: the exporter in this process, and the reader.

The exporter (``runtime.metrics``) runs against the real prometheus_client and its default
registry, here in single-process mode (tests/test_metrics_processes.py runs its
multiprocess mode across processes; tests/test_e2e_metrics.py a real vLLM server). The
reader (``status --metrics URL``, ``runtime.scrape``) reads pages that prometheus_client
itself serves over HTTP on 127.0.0.1, and the README's alert rules (tests/promql.py) are
evaluated on the same pages.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import sys
import threading

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import promql
from tests.helpers import cli_runner
from vllm_patches._version import __version__
from vllm_patches.cli.main import cli
from vllm_patches.core.words import Outcome
from vllm_patches.runtime import importhook, metrics, scrape
from vllm_patches.runtime.patcher import Result

VERSIONS = {"vllm_version": "0.22.1", "vllm_patches_version": __version__}


@pytest.fixture
def exporter(monkeypatch):
    """``runtime.metrics`` with a fresh state for this process (no fork hook), its gauges
    taken out of the default registry afterwards."""
    monkeypatch.setattr(metrics, "_STATE", {**metrics.new_state(), "forks": True})
    for name in (metrics.METRICS_ENV, metrics.MULTIPROC_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VLLM_PATCHES_VLLM_VERSION", "0.22.1")
    yield metrics
    for gauge in (metrics._STATE["gauges"] or {}).values():
        prometheus_client.REGISTRY.unregister(gauge)


def our_families(registry=prometheus_client.REGISTRY) -> dict:
    text = prometheus_client.generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)
            if f.name.startswith(metrics.PREFIX)}


def values(family) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def key(**labels) -> tuple:
    return tuple(sorted({**VERSIONS, **labels}.items()))


# The exporter ------------------------------------------------------------------------------
def test_a_process_that_armed_and_judged_patches_sets_one_gauge_per_state(exporter):
    exporter.armed()
    exporter.record([Result(f"p-{o}", o, "") for o in (
        Outcome.APPLIED, Outcome.SKIPPED, Outcome.REFUSED, Outcome.FAILED, Outcome.INHERITED)])
    found = our_families()
    assert set(found) == set(metrics.FAMILIES)
    for name, family in found.items():
        assert family.type == "gauge"
        assert family.documentation == metrics.FAMILIES[name][0]
    assert values(found[metrics.ARMED]) == {key(multiprocess="false"): 1.0}  # this process alone
    # A series for each state a patch is in, none for the states it is not in (0).
    assert values(found[metrics.IN_PLACE]) == {key(patch="p-applied"): 1.0,
                                               key(patch="p-inherited"): 1.0}
    assert values(found[metrics.NOT_NEEDED]) == {key(patch="p-skipped"): 1.0}
    assert values(found[metrics.NOT_IN_PLACE]) == {key(patch="p-refused", outcome="refused"): 1.0,
                                                   key(patch="p-failed", outcome="failed"): 1.0}


def test_a_patch_whose_outcome_changes_leaves_its_old_state(exporter):
    exporter.armed()
    exporter.record([Result("p", Outcome.REFUSED, "")])
    exporter.record([Result("p", Outcome.APPLIED, "")])
    found = our_families()
    assert values(found[metrics.IN_PLACE]) == {key(patch="p"): 1.0}
    assert values(found[metrics.NOT_IN_PLACE]) == {key(patch="p", outcome="refused"): 0.0}
    exporter.record([Result("p", Outcome.FAILED, "")])
    found = our_families()
    assert values(found[metrics.IN_PLACE]) == {key(patch="p"): 0.0}
    assert values(found[metrics.NOT_IN_PLACE]) == {key(patch="p", outcome="refused"): 0.0,
                                                   key(patch="p", outcome="failed"): 1.0}


@pytest.mark.parametrize("off", ["0", "false", "OFF", " no "])
def test_metrics_off_touches_no_registry(exporter, monkeypatch, off):
    monkeypatch.setenv(metrics.METRICS_ENV, off)
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    exporter.armed()
    exporter.record([Result("p", Outcome.APPLIED, "")])
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before
    assert our_families() == {}
    assert exporter._STATE["gauges"] is None and not exporter._STATE["armed"]
    assert exporter._publish not in importhook.pending("prometheus_client")


def test_a_registry_that_refuses_the_gauges_costs_the_metrics_never_the_process(
        exporter, caplog):
    taken = prometheus_client.Gauge(metrics.IN_PLACE, "someone else's")
    try:
        with caplog.at_level(logging.WARNING, logger="vllm_patches"):
            exporter.armed()
            exporter.record([Result("p", Outcome.APPLIED, "")])
        assert [r.getMessage() for r in caplog.records] == [
            caplog.records[0].getMessage()]  # one warning, not one per call
        assert "cannot export its metrics" in caplog.records[0].getMessage()
        assert exporter._STATE["broken"] is True
        assert set(our_families()) == {metrics.IN_PLACE}  # the other owner's alone: none of ours
    finally:
        prometheus_client.REGISTRY.unregister(taken)


# Pages served over HTTP on 127.0.0.1 -------------------------------------------------------
def server_page(armed: int = 3, multiprocess: int = 1, patches=None, vllm: bool = True) -> str:
    """A page as a vLLM server in multiprocess mode shows it: our families, summed over its
    processes, made with prometheus_client (and vLLM's own num_requests_running gauge)."""
    registry = prometheus_client.CollectorRegistry()
    gauges = {name: prometheus_client.Gauge(name, text, labels, registry=registry)
              for name, (text, labels) in metrics.FAMILIES.items()}
    if vllm:
        prometheus_client.Gauge("vllm:num_requests_running", "Running requests.",
                                ["model_name"], registry=registry).labels("tiny").set(0)
    if armed is not None:
        versions = tuple(VERSIONS.values())
        gauges[metrics.ARMED].labels(*versions, "true" if multiprocess else "false").set(armed)
        for patch_id, (in_place, not_needed, failing) in (patches or {}).items():
            gauges[metrics.IN_PLACE].labels(patch_id, *versions).set(in_place)
            gauges[metrics.NOT_NEEDED].labels(patch_id, *versions).set(not_needed)
            for outcome, count in failing.items():
                gauges[metrics.NOT_IN_PLACE].labels(patch_id, *versions, outcome).set(count)
    return prometheus_client.generate_latest(registry).decode()


class Pages(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def pages():
    """``pages(path=text, ...)`` -> the base URL of a server on 127.0.0.1 that serves them."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(**routes) -> str:
        Pages.routes = {"/" + p.replace("_", "/"): (200, t.encode()) for p, t in routes.items()}
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    server.shutdown()
    server.server_close()


def status_metrics(*args: str):
    return cli_runner().invoke(cli, ["status", "--metrics", *args])


GOOD = {"stop-token-ids-in-vocab": (3, 0, {}), "stop-string-earliest-match": (0, 3, {})}


def test_status_metrics_shows_each_patch_with_its_processes(pages):
    url = pages(metrics=server_page(patches=GOOD))
    result = status_metrics(url, "--check")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Metrics {url}/metrics: 3 process(es) armed vllm-patches")
    assert "every process counted" in lines[0]
    assert rows(result.stdout) == {
        "PATCH": ["APPLIES", "IN PLACE", "NOT NEEDED", "NOT IN PLACE", "TARGET NOT IMPORTED"],
        "stop-string-earliest-match": ["yes", "0", "3", "0", "0"],
        "stop-token-ids-in-vocab": ["yes", "3", "0", "0", "0"]}


def test_status_metrics_json_and_the_exporters_own_page(pages, exporter):
    exporter.armed()
    exporter.record([Result("stop-token-ids-in-vocab", Outcome.APPLIED, "")])
    url = pages(metrics=prometheus_client.generate_latest().decode())
    result = status_metrics(url + "/metrics", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["processes_armed"] == 1 and data["multiprocess"] is False
    assert data["vllm"] == ["0.22.1"] and data["vllm_patches"] == [__version__]
    assert data["patches"] == [{"id": "stop-token-ids-in-vocab", "applies": True,
                                "in_place": 1, "not_needed": 0, "not_in_place": {},
                                "target_not_imported": 0}]
    assert data["check"]["passed"] is False  # the API server's process alone
    checked = status_metrics(url, "--check")
    assert checked.exit_code == 1
    assert "PROMETHEUS_MULTIPROC_DIR" in checked.stderr


@pytest.mark.parametrize("patches, ids, says", [
    ({"stop-token-ids-in-vocab": (2, 0, {"refused": 1})}, (),
     "stop-token-ids-in-vocab refused in 1 process(es)"),
    (GOOD, ("prompt-negative-token-ids",), "judged prompt-negative-token-ids"),
])
def test_check_fails_on_a_patch_not_in_place_or_not_judged(pages, patches, ids, says):
    url = pages(metrics=server_page(patches=patches))
    result = status_metrics(url, "--check", *ids)
    assert result.exit_code == 1
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert status_metrics(url, *ids).exit_code == 0  # without --check: shown, not judged


def rows(output: str) -> dict[str, list[str]]:
    """The table's rows by patch id (cells split on runs of two spaces or more)."""
    import re

    lines = output.splitlines()
    return {cells[0]: cells[1:] for cells in
            (re.split(r"\s{2,}", line.strip()) for line in lines[2:] if line.strip())}


def test_a_refusal_of_a_patch_the_release_does_not_need_is_shown_and_passes(pages):
    """The gate asks about the patches that apply to the server's vLLM (this catalogue's
    ranges): one outside its range is shown, not judged."""
    from packaging.version import Version

    from vllm_patches.core.catalog import load_catalog

    outside = next(p.id for p in load_catalog() if not p.affects(Version("0.22.1")))
    url = pages(metrics=server_page(patches={outside: (0, 0, {"refused": 3})}))
    result = status_metrics(url, "--check")
    assert result.exit_code == 0, result.stderr
    assert rows(result.stdout)[outside] == ["no", "0", "0", "3 refused", "0"]


def test_a_page_without_our_metrics_is_no_evidence(pages):
    url = pages(metrics=server_page(armed=None))
    for args in ((), ("--check",)):
        result = status_metrics(url, *args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "has no vllm_patches_ metric" in result.stderr
    data = json.loads(status_metrics(url, "--json").stdout)
    assert data["processes_armed"] == 0 and data["check"]["passed"] is False


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url, says", [
    ("ftp://127.0.0.1/metrics", "is not a metrics URL"),
    ("127.0.0.1:8000", "is not a metrics URL"),
    ("http://127.0.0.1:port/metrics", "is not a metrics URL"),
    ("http://127.0.0.1:{closed}/metrics", "is the vLLM server up"),
])
def test_a_url_that_cannot_be_read_is_bad_input(url, says):
    # The closed port is picked when the test runs, not at collection: every xdist worker
    # must collect the same test ids.
    result = status_metrics(url.replace("{closed}", str(closed_port())))
    assert result.exit_code == 2
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_page_that_is_no_metrics_page_is_bad_input(pages):
    url = pages(index=f"<!DOCTYPE html><html>{'x' * 10}</html>")
    missing = status_metrics(url + "/nothing")
    assert missing.exit_code == 2 and "answered HTTP 404" in missing.stderr
    html = status_metrics(url + "/index")
    assert html.exit_code == 2 and "is not a Prometheus metrics page" in html.stderr


def test_without_prometheus_client_the_reader_says_so(pages, monkeypatch):
    url = pages(metrics=server_page(patches=GOOD))
    monkeypatch.setitem(sys.modules, "prometheus_client.parser", None)
    result = status_metrics(url)
    assert result.exit_code == 2
    said = "vllm-patches: " + scrape.messages.metrics_no_prometheus_client()
    assert result.stderr.strip() == said


@pytest.mark.parametrize("args", [("--report", "x.jsonl"), ("--target", "."), ("--run", "r")])
def test_metrics_with_another_source_is_bad_input(args):
    result = status_metrics("http://127.0.0.1:1/metrics", *args)
    assert result.exit_code == 2 and "--metrics reads a running server" in result.stderr


def test_an_unknown_patch_id_is_bad_input():
    result = status_metrics("http://127.0.0.1:1/metrics", "no-such-patch")
    assert result.exit_code == 2 and "no-such-patch" in result.stderr


# The README's alert rules on these pages ---------------------------------------------------
def test_the_alert_rules_fire_exactly_where_a_pod_serves_without_a_fix():
    pages = {
        "good": server_page(patches=GOOD),
        "refused": server_page(patches={"stop-token-ids-in-vocab": (2, 0, {"refused": 1})}),
        "unpatched": server_page(armed=None),
        "api-only": server_page(armed=1, multiprocess=0, patches={"p": (1, 0, {})}),
    }
    assert promql.firing("VllmPatchMissing", pages) == {
        ("test", "refused", "stop-token-ids-in-vocab"): 1.0}
    assert promql.firing("VllmPatchesNotArmed", pages) == {("test", "unpatched"): 1}
    assert promql.firing("VllmPatchesApiServerOnly", pages) == {("test", "api-only"): 1.0}
    assert set(promql.RULES) == {"VllmPatchMissing", "VllmPatchesNotArmed",
                                 "VllmPatchesApiServerOnly"}


def test_report_metrics_is_the_same_reader_as_status_metrics(pages):
    url = pages(metrics=server_page(patches={**GOOD, "prompt-negative-token-ids": (
        1, 0, {"failed": 2})}))
    for verb in ("status", "report"):
        result = cli_runner().invoke(cli, [verb, "--metrics", url, "--check",
                                           "stop-token-ids-in-vocab", "--json"])
        assert result.exit_code == 0, (verb, result.stderr)  # the failing patch not asked
        assert [p["id"] for p in json.loads(result.stdout)["patches"]] == [
            "stop-token-ids-in-vocab"]
        failing = cli_runner().invoke(cli, [verb, "--metrics", url, "--check"])
        assert failing.exit_code == 1
        assert "prompt-negative-token-ids failed in 2 process(es)" in failing.stderr


def test_report_needs_a_file_or_metrics_and_not_run_with_metrics():
    bare = cli_runner().invoke(cli, ["report"])
    assert bare.exit_code == 2 and "Give the report FILE" in bare.stderr
    both = cli_runner().invoke(cli, ["report", "--metrics", "http://127.0.0.1:1/", "--run", "r"])
    assert both.exit_code == 2 and "--metrics reads a running server" in both.stderr
