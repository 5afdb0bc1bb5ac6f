"""Your own catalogue beside ours: found through VLLM_PATCHES_CATALOG and --catalog, applied by
the plugin in a vLLM process, shown by status, and an id clash named with both folders."""

import json
import shutil

from tests.helpers import run_cli, run_scenario
from vllm_patches.core.catalog import catalog_dir

OURS = "stop-string-earliest-match"


def user_catalogue(tmp_path, new_id="acme-stop"):
    """A catalogue of one patch: a copy of one of ours under another id."""
    root = tmp_path / "acme-patches"
    shutil.copytree(catalog_dir() / OURS, root / new_id)
    toml = root / new_id / "patch.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(f'id = "{OURS}"', f'id = "{new_id}"'),
                    encoding="utf-8")
    return root


def test_the_plugin_applies_a_user_patch_named_by_the_environment(release, tmp_path):
    root = user_catalogue(tmp_path)
    seen = run_scenario("user_catalogue", release("0.26.0"),
                        VLLM_PATCHES_CATALOG=str(root), VLLM_PATCHES="acme-stop")
    assert seen == {"mark": "acme-stop", "applied": ["acme-stop"]}


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
