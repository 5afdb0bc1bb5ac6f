"""Your own catalogue beside ours: found through VLLM_PATCHES_CATALOG and --catalog, applied by
the plugin in a vLLM process, shown by status, and an id clash named with both folders.

An entry planted in it (a patch.toml that is a FIFO, a link to /dev/zero or a file past the
bound, an entry_points.txt that is a FIFO, a fix.py that calls sys.exit() when it runs)
costs only itself in a real vLLM process, with one warning naming it; the command line
refuses it in one sentence naming the file."""

import json
import os
import shutil

import pytest

from tests.helpers import SCENARIOS, run_cli, run_python, run_scenario
from vllm_patches.core.catalog import catalog_dir
from vllm_patches.core.catalog_files import CATALOG_FILE_LIMIT

OURS = "stop-string-earliest-match"
PLANTED = "acme-planted"
GUARD = 240  # seconds: a vLLM process blocked on a FIFO fails the test, never stalls it


def user_catalogue(tmp_path, new_id="acme-stop"):
    """A catalogue of one patch: a copy of one of ours under another id."""
    root = tmp_path / "acme-patches"
    add_copy(root, new_id)
    return root


def add_copy(root, new_id):
    """A copy of one of our patches in ``root`` under another id; its folder."""
    shutil.copytree(catalog_dir() / OURS, root / new_id)
    toml = root / new_id / "patch.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(f'id = "{OURS}"', f'id = "{new_id}"'),
                    encoding="utf-8")
    return root / new_id


def test_the_plugin_applies_a_user_patch_named_by_the_environment(release, tmp_path):
    root = user_catalogue(tmp_path)
    seen = run_scenario("user_catalogue", release("0.26.0"),
                        VLLM_PATCHES_CATALOG=str(root), VLLM_PATCHES="acme-stop")
    assert seen == {"mark": "acme-stop", "applied": ["acme-stop"], "error": None}


def test_status_shows_whose_patch_it_is(release, tmp_path):
    root = user_catalogue(tmp_path)
    proc = run_cli("status", "--catalog", str(root), "--target", str(release("0.26.0")), "--json")
    assert proc.returncode == 0, proc.stderr
    by_id = {p["id"]: p for p in json.loads(proc.stdout)["patches"]}
    assert by_id["acme-stop"]["catalog"] == str(root.resolve())
    assert by_id["acme-stop"]["state"] == "applicable"
    assert by_id[OURS]["catalog"] == str(catalog_dir())


def test_an_id_clash_is_one_sentence_naming_both_folders(tmp_path):
    root = user_catalogue(tmp_path, new_id=OURS)
    proc = run_cli("status", "--catalog", str(root))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert str(catalog_dir() / OURS) in line and str(root / OURS) in line


def test_a_catalogue_that_is_not_a_folder_is_one_sentence(tmp_path):
    proc = run_cli("status", "--catalog", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr


# Planted entries ------------------------------------------------------------------------
def _replace(path, make) -> None:
    path.unlink()
    make(path)


def _past_the_bound(path) -> None:
    path.write_bytes(b"# a patch.toml\n")
    os.truncate(path, CATALOG_FILE_LIMIT + 1)  # sparse: refused before a byte is read


PLANTS = {  # the file planted in the entry, how, and what the warning says of it
    "patch.toml a FIFO": ("patch.toml", os.mkfifo, "is not a plain file (a FIFO)"),
    "patch.toml a link to /dev/zero": ("patch.toml", lambda p: p.symlink_to("/dev/zero"),
                                       "is not a plain file (a symlink)"),
    "patch.toml past the bound": ("patch.toml", _past_the_bound, "is larger than 1 MiB"),
    "fix.py a FIFO": ("fix.py", os.mkfifo, "is not a plain file (a FIFO)"),
}


def planted_catalogue(tmp_path, plant: str):
    """Our patch as acme-stop, beside an entry with ``plant``; the catalogue and the file."""
    root = user_catalogue(tmp_path)
    name, make, _ = PLANTS[plant]
    path = add_copy(root, PLANTED) / name
    _replace(path, make)
    return root, path


def vllm_process(tree, *paths, **env) -> tuple[dict, str]:
    """``scenarios/user_catalogue.py`` in a fresh interpreter, as a vLLM process starts (the
    plugin arms at ``import vllm``): its JSON and its stderr."""
    proc = run_python([str(SCENARIOS / "user_catalogue.py")], *paths, tree, timeout=GUARD,
                      **env)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def warnings_naming(stderr: str, path) -> list[str]:
    return [line for line in stderr.splitlines() if str(path) in line]


@pytest.mark.parametrize("plant", PLANTS)
def test_a_planted_entry_costs_only_itself_in_a_vllm_process(release, tmp_path, plant):
    """The plugin's arming scan and the checked catalogue read it at ``import vllm`` and at
    the first target's import: neither blocks nor exhausts memory, the good patch applies."""
    root, path = planted_catalogue(tmp_path, plant)
    seen, stderr = vllm_process(release("0.26.0"), VLLM_PATCHES_CATALOG=str(root),
                                VLLM_PATCHES=f"acme-stop,{PLANTED}")
    assert seen == {"mark": "acme-stop", "applied": ["acme-stop"], "error": None}
    (warning,) = warnings_naming(stderr, path)
    assert warning.startswith("WARNING") and PLANTS[plant][2] in warning
    assert "Traceback" not in stderr and "MemoryError" not in stderr


@pytest.mark.parametrize("plant", PLANTS)
def test_the_cli_refuses_a_planted_entry_in_one_sentence_naming_the_file(tmp_path, plant):
    root, path = planted_catalogue(tmp_path, plant)
    proc = run_cli("status", "--catalog", str(root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1
    assert str(path) in proc.stderr and PLANTS[plant][2] in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_entry_points_file_that_is_a_fifo_never_blocks_the_arming_scan(tmp_path):
    """The arming scan reads every installed distribution's entry_points.txt (catalogue
    plugins are found there) when vLLM is imported: a FIFO among them is skipped. (torch's
    own import reads them too, through importlib.metadata, and blocks there: so the scan
    runs here as the plugin runs it, without torch.)"""
    site = tmp_path / "site"
    (site / "planted-1.0.dist-info").mkdir(parents=True)
    os.mkfifo(site / "planted-1.0.dist-info" / "entry_points.txt")
    root = user_catalogue(tmp_path)
    code = "from vllm_patches.runtime import plugin; print(plugin.target_modules())"
    proc = run_python(["-c", code], site, timeout=GUARD, VLLM_PATCHES_CATALOG=str(root),
                      VLLM_PATCHES="acme-stop")
    assert proc.stdout.strip() == "('vllm.v1.engine.detokenizer',)" and proc.stderr == ""
    status = run_cli("status", "--catalog", str(root), paths=(site,))
    assert status.returncode == 0, status.stderr


EXITS = "import sys\nsys.exit(3)  # a fix that ends the process when it runs\n"


def exiting_catalogue(tmp_path):
    root = user_catalogue(tmp_path)
    fix = add_copy(root, PLANTED) / "fix.py"
    fix.write_text(EXITS + fix.read_text(encoding="utf-8"), encoding="utf-8")
    return root, fix


def test_a_fix_that_calls_sys_exit_never_ends_a_vllm_process(release, tmp_path):
    root, _ = exiting_catalogue(tmp_path)
    seen, stderr = vllm_process(release("0.26.0"), VLLM_PATCHES_CATALOG=str(root),
                                VLLM_PATCHES=f"{PLANTED},acme-stop")
    assert seen == {"mark": "acme-stop", "applied": ["acme-stop"], "error": None}
    (warning,) = [line for line in stderr.splitlines() if PLANTED in line]
    assert warning.startswith("WARNING") and "SystemExit(3)" in warning
    assert "would have ended this process" in warning


def test_strict_mode_still_raises_for_a_fix_that_calls_sys_exit(release, tmp_path):
    root, _ = exiting_catalogue(tmp_path)
    seen, _ = vllm_process(release("0.26.0"), VLLM_PATCHES_CATALOG=str(root),
                           VLLM_PATCHES=PLANTED, VLLM_PATCHES_STRICT="1")
    assert seen["error"].startswith("PatchError") and "SystemExit(3)" in seen["error"]
    assert seen["mark"] is None
