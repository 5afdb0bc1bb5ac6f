"""``vllm-patches uninstall`` on a copy of a real release tree with every applicable fix
written in and the hook installed into a site folder of its own."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.helpers import run_cli
from tests.test_source import snapshot
from tests.test_source_shared_file import SAMPLING, targets_tree
from vllm_patches.runtime.hookfile import PTH_NAME
from vllm_patches.source.record import STATE_DIR

PACKAGE_LEFT = "pip uninstall vllm-patches"


@pytest.fixture
def setup(tmp_path):
    """(tree, site, the tree's files before apply): all of 0.22.1's fixes applied, the hook in."""
    tree = targets_tree(tmp_path)
    before = snapshot(tree)
    site = tmp_path / "site"
    site.mkdir()
    assert run_cli("apply", "--target", str(tree)).returncode == 0
    assert run_cli("hook", "install", "--site", str(site)).returncode == 0
    assert (site / PTH_NAME).is_file() and (tree / STATE_DIR).is_dir()
    return tree, site, before


def uninstall(tree, site, *args):
    return run_cli("uninstall", "--target", str(tree), "--site", str(site), *args)


def test_uninstall_takes_every_fix_the_hook_and_the_state_folder_out(setup):
    tree, site, before = setup
    proc = uninstall(tree, site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert snapshot(tree) == before  # every byte back, and no .vllm-patches/
    assert os.listdir(site) == []
    lines = proc.stdout.splitlines()
    assert sum("the original bytes are back" in line for line in lines) == 7
    assert f"Removed {site / PTH_NAME}" in proc.stdout
    assert f"Removed {tree / STATE_DIR}" in proc.stdout
    assert lines[-1].startswith("  - ") and lines[-1].endswith(f"{PACKAGE_LEFT}.")
    assert "vllm.general_plugins" in lines[-1]

    again = uninstall(tree, site, "--json")  # nothing left: says so, exit 0
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["results"] == [] and data["ok"]
    assert [s["outcome"] for s in data["steps"]] == ["absent", "absent"]
    assert data["left"][-1].endswith(f"{PACKAGE_LEFT}.")


def test_a_dry_run_says_all_it_would_do_and_changes_nothing(setup):
    tree, site, _ = setup
    patched = snapshot(tree)
    proc = uninstall(tree, site, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] and len(data["results"]) == 7
    assert {r["outcome"] for r in data["results"]} == {"would-revert"}
    assert [(s["what"], s["outcome"]) for s in data["steps"]] == [
        ("hook", "would-remove"), ("state", "would-remove")]
    assert snapshot(tree) == patched and os.listdir(site) == [PTH_NAME]


def test_a_fix_that_cannot_be_reverted_is_one_sentence_and_exit_1(setup):
    tree, site, before = setup
    with open(tree / SAMPLING, "a") as fh:  # an edit since: revert refuses without --force
        fh.write("# local note\n")
    proc = uninstall(tree, site)
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()  # one sentence each: the three fixes of the file
    assert len(errors) == 4 and all(e.startswith("vllm-patches: ") for e in errors), errors
    assert "structured-outputs-regex-nul refused" in errors[0]
    assert "changed since vllm-patches applied it" in errors[0]
    assert "structured-outputs-reject-degenerate refused: structured-outputs-regex-nul" \
        in errors[1]
    assert "stop-token-ids-in-vocab refused: revert structured-outputs-reject-degenerate first" \
        in errors[2]
    assert f"Kept {tree / STATE_DIR}" in errors[3] and "Traceback" not in proc.stderr
    assert os.listdir(site) == []  # the hook went all the same
    after = snapshot(tree)  # the other fixes are out
    unchanged = {rel for rel in before if after.get(rel) == before[rel]}
    assert "vllm/v1/engine/detokenizer.py" in unchanged and SAMPLING not in unchanged


@pytest.mark.parametrize("option,value", [("--site", "no-such-site"), ("--target", "no-tree")])
def test_bad_input_is_one_sentence_exit_2_and_nothing_changed(setup, tmp_path, option, value):
    tree, site, _ = setup
    patched = snapshot(tree)
    args = {"--target": str(tree), "--site": str(site), option: str(tmp_path / value)}
    proc = run_cli("uninstall", *[x for kv in args.items() for x in kv])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vllm-patches: "), proc.stderr
    assert snapshot(tree) == patched and os.listdir(site) == [PTH_NAME]


def test_a_fix_without_a_record_is_left_and_named(setup):
    tree, site, _ = setup
    shutil.rmtree(tree / STATE_DIR)  # the record lost: the fixes are in the files alone
    proc = uninstall(tree, site)
    assert proc.returncode == 0, proc.stderr
    assert "stop-string-earliest-match: its fix is in the files" in proc.stdout
    assert "vllm-patches revert stop-string-earliest-match --force" in proc.stdout
    assert proc.stdout.splitlines()[-1].endswith(f"{PACKAGE_LEFT}.")


def test_a_state_folder_holding_someone_elses_file_is_kept(setup):
    tree, site, before = setup
    (tree / STATE_DIR / "notes.txt").write_text("mine\n")
    proc = uninstall(tree, site)
    assert proc.returncode == 1
    assert "notes.txt" in proc.stderr and f"Kept {tree / STATE_DIR}" in proc.stderr
    assert set(os.listdir(tree / STATE_DIR)) <= {"notes.txt", "lock"}  # no record: all out
    assert {k: v for k, v in snapshot(tree).items() if not k.startswith(STATE_DIR)} == before
