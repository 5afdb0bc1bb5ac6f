"""Every verdict is about the code Python imports: the file its path finder picks (a
sourceless .pyc, an extension module, an unchecked .pyc of other source), and the version
of the distribution whose files those are.

Each tree is a real release tree from the cache, copied and transformed as images and
forks leave it: sources stripped, bytecode precompiled, a fork on PYTHONPATH beside
another distribution's metadata.
"""

from __future__ import annotations

import json
import py_compile
import shutil
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from tests.helpers import run_cli, run_python
from vllm_patches.core.catalog import get_patch, load_catalog
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.importfile import FileKind, find_module_file
from vllm_patches.core.state import patch_status
from vllm_patches.source.edit import patch_text

AFFECTED = "0.22.1"
STABLE = "gemma4-mtp-stable-lm-head"
MTP = "vllm.model_executor.models.gemma4_mtp"
TARGETS = sorted({t.module for p in load_catalog() for t in p.targets})


def module_file(tree: Path, module: str) -> Path:
    return tree / (module.replace(".", "/") + ".py")


def strip_source(tree: Path, module: str) -> None:
    """What an image that strips sources leaves: the module's bytecode beside the package's
    files (where Python imports it from), and no .py."""
    py = module_file(tree, module)
    py_compile.compile(str(py), cfile=str(py.with_suffix(".pyc")), doraise=True)
    py.unlink()


def strip_sources(tree: Path, modules) -> None:
    """Strip ``modules`` and every package ``__init__`` on their way."""
    packages = {".".join(m.split(".")[:i]) + ".__init__"
                for m in modules for i in range(1, len(m.split(".")))}
    for module in sorted({*modules, *packages}):
        strip_source(tree, module)


def path_finder(folder: str):
    """The finder Python's path hooks give for one folder of a package's path."""
    for hook in sys.path_hooks:
        try:
            return hook(folder)
        except ImportError:
            continue
    raise AssertionError(f"no path hook takes {folder}")


def python_finds(location: Path, module: str) -> str | None:
    """The file Python's own finders pick for ``module`` under ``location``, package by
    package, without importing anything (None: no module, or a namespace package)."""
    parts, path, spec = module.split("."), [str(location)], None
    for depth in range(len(parts)):
        name = ".".join(parts[:depth + 1])
        spec = next((s for s in (path_finder(p).find_spec(name) for p in path) if s), None)
        if spec is None:
            return None
        if depth < len(parts) - 1:
            if spec.submodule_search_locations is None:
                return None
            path = list(spec.submodule_search_locations)
    return spec.origin if spec.has_location else None


# The lookup is Python's --------------------------------------------------------------
def _sourceless(tree):
    strip_source(tree, MTP)


def _cache_only(tree):
    py = module_file(tree, MTP)
    py_compile.compile(str(py), doraise=True)  # into __pycache__, as compileall leaves it
    py.unlink()


def _extension_beside_source(tree):
    module_file(tree, MTP).with_name(f"gemma4_mtp{EXTENSION_SUFFIXES[0]}").write_bytes(b"\x7fELF")


def _package_beside_module(tree):
    package = module_file(tree, MTP).with_suffix("")
    package.mkdir()
    (package / "__init__.py").write_text("")


def _folder_beside_module(tree):
    module_file(tree, MTP).with_suffix("").mkdir()  # a namespace portion: the module wins


def _folder_only(tree):
    module_file(tree, MTP).unlink()
    module_file(tree, MTP).with_suffix("").mkdir()


def _parent_sourceless(tree):
    strip_source(tree, "vllm.model_executor.models.__init__")


def _parent_is_a_module(tree):
    models = tree / "vllm" / "model_executor" / "models"
    shutil.rmtree(models)
    models.with_suffix(".py").write_text("")


TRANSFORMS = {
    "release": (lambda tree: None, FileKind.SOURCE),
    "sourceless bytecode": (_sourceless, FileKind.BYTECODE),
    "__pycache__ only": (_cache_only, FileKind.ABSENT),
    "extension beside the source": (_extension_beside_source, FileKind.EXTENSION),
    "package beside the module": (_package_beside_module, FileKind.SOURCE),
    "folder beside the module": (_folder_beside_module, FileKind.SOURCE),
    "folder only": (_folder_only, FileKind.ABSENT),
    "sourceless parent package": (_parent_sourceless, FileKind.SOURCE),
    "parent is a module": (_parent_is_a_module, FileKind.ABSENT),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_the_module_file_is_the_one_pythons_path_finder_picks(tree_copy, name):
    transform, kind = TRANSFORMS[name]
    tree = tree_copy(AFFECTED)
    transform(tree)
    found_kind, found = find_module_file(tree, MTP)
    expected = python_finds(tree, MTP)
    assert (str(found) if found else None) == expected
    assert found_kind == kind


def test_bytecode_in_pycache_without_its_source_is_not_imported(tree_copy):
    """The other half of the rule: Python itself finds no module there."""
    tree = tree_copy(AFFECTED, full=True)
    _cache_only(tree)
    code = f"import importlib\ntry:\n    importlib.import_module({MTP!r})\nexcept " \
           "ModuleNotFoundError as e:\n    print(e.name)\n"
    assert run_python(["-c", code], tree).stdout.strip() == MTP
    status = patch_status(get_patch(STABLE), find_vllm(tree))
    assert status.state == "not-applicable"


# Sources stripped: never green ------------------------------------------------------
@pytest.fixture
def stripped(tree_copy):
    tree = tree_copy(AFFECTED, full=True)
    strip_sources(tree, TARGETS)
    return tree


@pytest.mark.parametrize("where", ["--target", "PYTHONPATH"])
def test_a_tree_stripped_of_its_sources_is_target_modified_and_check_fails(stripped, where):
    args = ("--target", str(stripped)) if where == "--target" else ()
    paths = () if where == "--target" else (stripped,)
    proc = run_cli("status", "--check", "--json", *args, paths=paths)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["vllm"]["location"] == str(stripped)
    assert data["vllm"]["version"] == AFFECTED  # the dist-info beside it still says so
    for patch in data["patches"]:
        assert patch["state"] == "target-modified", patch
        assert "the source of vllm." in patch["reason"] and "is missing" in patch["reason"]
        assert "bytecode" in patch["reason"] and ".pyc" in patch["reason"]


def test_the_plugin_refuses_a_module_python_runs_without_source(stripped):
    code = ("import json; from vllm_patches.runtime import patcher\n"
            f"print(json.dumps([o.to_dict() for o in patcher.apply([{STABLE!r}])]))\n")
    proc = run_python(["-c", code], stripped, preload=True)
    (outcome,) = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["outcome"] == "refused"
    assert f"the source of {MTP} is missing" in outcome["message"]
    assert str(module_file(stripped, MTP).with_suffix(".pyc")) in outcome["message"]


# Unchecked hash-based bytecode of other source ------------------------------------------
def test_a_fix_in_the_source_under_unchecked_bytecode_is_not_reported_applied(tree_copy):
    """An image precompiled with --invalidation-mode unchecked-hash, whose .py later got the
    fix by hand or from another layer: Python runs the .pyc whatever the .py says, so the
    pre-fix code runs. (vllm-patches apply removes the stale .pyc itself.)"""
    tree = tree_copy(AFFECTED, full=True)
    patch, py = get_patch(STABLE), module_file(tree, MTP)
    py_compile.compile(str(py), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert patch_status(patch, find_vllm(tree)).state == "applicable"
    py.write_text(patch_text(patch, patch.targets[0], py.read_text()))
    wrapped = patch.targets[0].wraps[0].original_name
    code = f"import {MTP} as m\nprint(hasattr(m.Gemma4MTP, {wrapped!r}))\n"
    ran_fix = run_python(["-c", code], tree, preload=True).stdout.strip().splitlines()[-1]
    assert ran_fix == "False"  # Python ran the old bytecode
    status = patch_status(patch, find_vllm(tree))
    assert status.state == "target-modified"
    assert "unchecked hash-based .pyc" in status.reason
    assert run_cli("status", "--check", "--target", str(tree)).returncode == 1


# The version is the tree's own ------------------------------------------------------------
def test_a_fork_on_the_path_is_judged_by_its_own_version_not_another_distributions(
        tree_copy, release, tmp_path):
    """A fork's checkout on PYTHONPATH (no dist-info), while a 0.33.0 wheel's metadata sits in
    another folder of the path: the fork's changed code is a fork's change, never 'fixed
    upstream, can be dropped'; the same verdict as status --target gives it."""
    fork = tree_copy(AFFECTED)
    for info in fork.glob("vllm-*.dist-info"):
        shutil.rmtree(info)
    path = module_file(fork, MTP)
    text = path.read_text()
    path.write_text(text.replace("dim=0,\n            )\n        return lm_head_weight",
                                 "dim=-1,\n            )\n        return lm_head_weight", 1))
    site = tmp_path / "site"
    shutil.copytree(next(release("0.33.0").glob("vllm-*.dist-info")),
                    site / "vllm-0.33.0.dist-info")
    verdicts = {}
    for where, args, paths in (("path", (), (fork, site)),
                               ("target", ("--target", str(fork)), (site,))):
        data = json.loads(run_cli("status", "--json", *args, paths=paths).stdout)
        assert data["vllm"]["location"] == str(fork)
        assert (data["vllm"]["version"], data["vllm"]["version_from"]) == (AFFECTED, "_version.py")
        verdicts[where] = {p["id"]: p["state"] for p in data["patches"]}
    assert verdicts["path"][STABLE] == "target-modified"
    assert verdicts["path"] == verdicts["target"]
    (fork / "vllm" / "_version.py").unlink()  # a checkout without setuptools-scm's file
    data = json.loads(run_cli("status", "--json", "--check", paths=(fork, site)).stdout)
    assert (data["vllm"]["version"], data["vllm"]["version_from"]) == (None, "unknown")
    assert {p["id"]: p["state"] for p in data["patches"]}[STABLE] == "target-modified"
