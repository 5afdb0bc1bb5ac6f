"""status tells whether vLLM processes here patch themselves at start-up (the plugin)."""

import json

import pytest

from tests.conftest import GEMMA4_STABLE_RELEASES as AFFECTED
from tests.helpers import run_cli, run_python
from vllm_patches.runtime.autopatch import AutoPatch, _entry_point_installed, vllm_loads

STABLE = "gemma4-mtp-stable-lm-head"


def test_the_installed_entry_point_is_found_in_its_site(plugin_site, tmp_path):
    assert _entry_point_installed([plugin_site])
    assert not _entry_point_installed([tmp_path])


def test_vllm_plugins_filter_and_selection_decide_what_is_covered():
    everything = AutoPatch(True, None, None)
    assert everything.covers(STABLE)
    assert not AutoPatch(False, None, None).covers(STABLE)
    assert not AutoPatch(True, "other_plugin", None).covers(STABLE)
    assert AutoPatch(True, "other_plugin,vllm_patches", None).covers(STABLE)
    assert not AutoPatch(True, "other_plugin, vllm_patches", None).covers(STABLE)  # vLLM's split
    assert not AutoPatch(True, "", None).covers(STABLE)
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


# vLLM's own rule for VLLM_PLUGINS, run from the release trees -------------------------
PLUGIN_FILTERS = [None, "", "vllm_patches", "other,vllm_patches", "other, vllm_patches",
                  " vllm_patches", "vllm_patches ", "vllm_patches,", ",", ",vllm_patches",
                  "VLLM_PATCHES", "vllm-patches", "other", "other,,vllm_patches"]
LOADS = (
    "import json, os, sys\n"
    "from vllm.plugins import load_plugins_by_group\n"
    "seen = []\n"
    "for value in json.loads(sys.argv[1]):\n"
    "    if value is None:\n"
    "        os.environ.pop('VLLM_PLUGINS', None)\n"
    "    else:\n"
    "        os.environ['VLLM_PLUGINS'] = value\n"
    "    seen.append('vllm_patches' in load_plugins_by_group('vllm.general_plugins'))\n"
    "print(json.dumps(seen))\n"
)


@pytest.mark.parametrize("version", ["0.17.0", "0.33.0"])
def test_status_reads_vllm_plugins_by_vllms_own_rule(release, plugin_site, version):
    """vLLM's real load_plugins_by_group (its envs.py split, its ``in`` test) decides, in a
    process with the plugin installed, for each value; status's rule must say the same."""
    proc = run_python(["-c", LOADS, json.dumps(PLUGIN_FILTERS)], plugin_site, release(version))
    vllm_says = json.loads(proc.stdout.strip().splitlines()[-1])
    assert vllm_says == [vllm_loads(value) for value in PLUGIN_FILTERS]
    assert True in vllm_says and False in vllm_says


@pytest.mark.parametrize("value", ["other, vllm_patches", ""])
def test_check_fails_when_vllm_plugins_keeps_vllm_from_loading_the_plugin(release, plugin_site,
                                                                          value):
    proc = status_of_installed(release, plugin_site, "--check", VLLM_PLUGINS=value)
    assert proc.returncode == 1
    assert "Auto-patching: off" in proc.stdout
    if value:
        assert "write VLLM_PLUGINS='other,vllm_patches'" in proc.stdout
