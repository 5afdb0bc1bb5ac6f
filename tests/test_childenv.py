"""Which settings a child process of vllm-patches keeps, and which it drops (core.childenv)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vllm_patches.core.catalog_files import PACKAGE_PARENT
from vllm_patches.core.childenv import child_env
from vllm_patches.core.detect import VllmInstall

KEPT = ["VLLM_PATCHES_CATALOG", "VLLM_PATCHES_CACHE", "VLLM_PATCHES_SHAPE_CACHE",
        "VLLM_PATCHES_PRELOAD", "VLLM_PATCHES_DEBUG"]
DROPPED = ["VLLM_PATCHES", "VLLM_PATCHES_STRICT", "VLLM_PATCHES_REPORT", "VLLM_PATCHES_RUN",
           "VLLM_PATCHES_VLLM_VERSION", "VLLM_PATCHES_FAULT", "VLLM_PATCHES_E2E_VLLM",
           "VLLM_PATCHES_SOMETHING_NEW"]


@pytest.fixture
def user_env(monkeypatch):
    for name in KEPT + DROPPED:
        monkeypatch.setenv(name, f"{name.lower()}-value")
    monkeypatch.setenv("VLLM_USE_V1", "1")  # vLLM's own settings are the user's to keep
    monkeypatch.setenv("PYTHONPATH", "/users/path")
    monkeypatch.delenv("VLLM_LOGGING_LEVEL", raising=False)


def test_a_child_keeps_where_the_catalogue_and_caches_are_and_drops_what_it_runs(user_env):
    env = child_env()
    assert {name: env.get(name) for name in KEPT} == {n: f"{n.lower()}-value" for n in KEPT}
    assert [name for name in DROPPED if name in env] == []
    assert env["VLLM_USE_V1"] == "1"


def test_the_tree_comes_first_on_the_path_then_the_users_then_this_package(user_env, tmp_path):
    env = child_env(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/users/path", PACKAGE_PARENT]
    alone = child_env(tmp_path, inherit_path=False)
    assert alone["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), PACKAGE_PARENT]
    assert env["VLLM_LOGGING_LEVEL"] == "ERROR"


def test_the_caller_sets_what_the_child_runs(user_env):
    env = child_env(VLLM_PATCHES="none", VLLM_LOGGING_LEVEL="DEBUG")
    assert env["VLLM_PATCHES"] == "none" and env["VLLM_LOGGING_LEVEL"] == "DEBUG"


@pytest.mark.parametrize("version_from, passed", [("override", "0.22.1"), ("metadata", None)])
def test_a_version_the_user_gave_reaches_the_child_and_a_read_one_does_not(
        user_env, tmp_path, version_from, passed):
    install = VllmInstall(Path(tmp_path), None, "0.22.1", version_from, False, True)
    assert child_env(tmp_path, install=install).get("VLLM_PATCHES_VLLM_VERSION") == passed
