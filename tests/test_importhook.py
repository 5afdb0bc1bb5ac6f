"""Post-import hooks: a function runs right after a named module is imported.

These tests import small modules written to a temporary folder, each under a
fresh name, in this process; the finder is taken off ``sys.meta_path`` after
each test.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import itertools
import sys

import pytest

from vllm_patches.runtime import importhook

_counter = itertools.count()


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """``make_module(body)`` -> the name of a new, not yet imported module with that code."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    made = []

    def make(body: str = "VALUE = 42\n", package: bool = False) -> str:
        name = f"vp_hooktest_{next(_counter)}"
        if package:
            (tmp_path / name).mkdir()
            (tmp_path / name / "__init__.py").write_text("")
            (tmp_path / name / "sub.py").write_text(body)
            made.extend([name, f"{name}.sub"])
            return f"{name}.sub"
        (tmp_path / f"{name}.py").write_text(body)
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def test_the_hook_runs_right_after_the_module_finished_importing(make_module):
    name = make_module("VALUE = 42\n")
    seen = []
    importhook.when_imported(name, lambda m: seen.append(m.VALUE))
    assert seen == []
    module = importlib.import_module(name)
    assert seen == [42]
    assert module.VALUE == 42


def test_the_hook_runs_at_once_when_the_module_is_already_imported(make_module):
    name = make_module()
    module = importlib.import_module(name)
    seen = []
    importhook.when_imported(name, seen.append)
    assert seen == [module]
    assert importhook.pending(name) == ()


def test_the_hook_runs_once_however_often_the_module_is_imported(make_module):
    name = make_module()
    seen = []
    importhook.when_imported(name, seen.append)
    for _ in range(3):
        importlib.import_module(name)
    assert len(seen) == 1


def test_submodules_of_a_package_are_hooked(make_module):
    name = make_module("VALUE = 7\n", package=True)
    seen = []
    importhook.when_imported(name, lambda m: seen.append(m.VALUE))
    importlib.import_module(name)
    assert seen == [7]


def test_the_module_keeps_its_real_loader_and_its_source(make_module):
    name = make_module("def f():\n    return 1\n")
    importhook.when_imported(name, lambda m: None)
    module = importlib.import_module(name)
    assert type(module.__loader__) is importlib.machinery.SourceFileLoader
    assert module.__spec__.loader is module.__loader__
    assert inspect.getsource(module.f) == "def f():\n    return 1\n"


def test_a_hook_that_raises_fails_the_import_and_runs_again_on_the_next_import(make_module):
    name = make_module()
    calls = []

    def hook(module):
        calls.append(module)
        if len(calls) == 1:
            raise RuntimeError("first time")

    importhook.when_imported(name, hook)
    with pytest.raises(RuntimeError, match="first time"):
        importlib.import_module(name)
    assert name not in sys.modules
    assert importhook.pending(name) == (hook,)
    importlib.import_module(name)
    assert len(calls) == 2 and importhook.pending(name) == ()


def test_a_hook_never_sees_a_half_imported_module(make_module):
    # The module registers a hook on itself while its own code runs.
    name = make_module(
        "import sys\n"
        "from vllm_patches.runtime import importhook\n"
        "SEEN = []\n"
        "importhook.when_imported(__name__, lambda m: SEEN.append(m.DONE))\n"
        "DONE = True\n"
    )
    module = importlib.import_module(name)
    assert module.SEEN == []


def test_other_modules_are_found_as_before(make_module):
    watched, other = make_module(), make_module()
    importhook.when_imported(watched, lambda m: None)
    spec = importlib.util.find_spec(other)
    assert type(spec.loader) is importlib.machinery.SourceFileLoader


def test_one_finder_serves_every_hook(make_module):
    for _ in range(3):
        importhook.when_imported(make_module(), lambda m: None)
    assert sum(getattr(f, "_vllm_patches_import_hooks", False) for f in sys.meta_path) == 1
