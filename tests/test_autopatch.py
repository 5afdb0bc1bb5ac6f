"""status tells whether vLLM processes here patch themselves at start-up (the plugin)."""

import json

from tests.conftest import AFFECTED
from tests.helpers import run_cli
from vllm_patches.runtime.autopatch import AutoPatch, _entry_point_installed

STABLE = "gemma4-mtp-stable-lm-head"


def test_the_installed_entry_point_is_found_in_its_site(plugin_site, tmp_path):
    assert _entry_point_installed([plugin_site])
    assert not _entry_point_installed([tmp_path])


def test_vllm_plugins_filter_and_selection_decide_what_is_covered():
    everything = AutoPatch(True, None, None)
    assert everything.covers(STABLE)
    assert not AutoPatch(False, None, None).covers(STABLE)
    assert not AutoPatch(True, "other_plugin", None).covers(STABLE)
    assert AutoPatch(True, "other_plugin, vllm_patches", None).covers(STABLE)
    assert not AutoPatch(True, None, ()).covers(STABLE)
    assert not AutoPatch(True, None, ("gemma4-mtp-lm-head-reload",)).covers(STABLE)
    assert "VLLM_PATCHES=none" in AutoPatch(True, None, ()).summary()


def status_of_installed(release, plugin_site, *args, **env):
    return run_cli("status", *args, paths=(plugin_site, release(AFFECTED[-1])), **env)


def test_status_says_the_plugin_patches_vllm_processes(release, plugin_site):
    proc = status_of_installed(release, plugin_site)
    assert "Auto-patching: on" in proc.stdout
    assert "nothing for vLLM processes: the plugin applies it at start-up" in proc.stdout
    data = json.loads(status_of_installed(release, plugin_site, "--json").stdout)
    assert data["autopatch"]["plugin_loads"] is True
    assert {p["id"]: p["autopatch"] for p in data["patches"]}[STABLE] is True


def test_check_passes_when_the_plugin_covers_the_patch_and_fails_when_filtered(release,
                                                                               plugin_site):
    assert status_of_installed(release, plugin_site, "--check").returncode == 0
    filtered = status_of_installed(release, plugin_site, "--check", VLLM_PLUGINS="someone_else")
    assert filtered.returncode == 1
    assert "does not list vllm_patches" in filtered.stdout
    disabled = status_of_installed(release, plugin_site, "--check", VLLM_PATCHES="none")
    assert disabled.returncode == 1


def test_a_target_tree_shows_no_auto_patching(release, plugin_site):
    proc = run_cli("status", "--json", "--target", str(release(AFFECTED[-1])),
                   paths=(plugin_site,))
    assert json.loads(proc.stdout)["autopatch"] is None
