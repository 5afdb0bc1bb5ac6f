"""Security advisories in ``status``: where each stands for a vLLM, and the exit code a gate reads.

A user catalogue of the synthetic patches (tests/synthetic.py) with made-up advisory ids, on
copies of real release trees: open where the fix applies and nothing closes it, patched once
it is written into the files, fixed-upstream where the release has upstream's fix; and, in
``core.status``, patched where the plugin puts the fix in at start-up.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli
from tests.synthetic import FIRST, FIXED, LAST, METHOD, write_one
from vllm_patches.core.catalog import load_catalog
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.state import patch_status
from vllm_patches.core.status import Standing, build

OPEN_ID, FIXED_ID = "GHSA-2222-3333-4444", "CVE-2026-0000001"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("advisories")
    write_one(root, METHOD, fields={"advisories": [OPEN_ID], "severity": "high", "cvss": 7.5})
    write_one(root, FIXED, fields={"advisories": [FIXED_ID]})
    return root


def advisories(tree, catalogue, *ids):
    proc = run_cli("status", "--advisories", "--json", "--target", str(tree), "--catalog",
                   str(catalogue), *ids, check=False)
    return proc.returncode, json.loads(proc.stdout)


def test_an_advisory_whose_fix_applies_and_is_not_in_is_open_and_fails_the_gate(catalogue,
                                                                                 tree_copy):
    code, data = advisories(tree_copy(FIRST), catalogue, METHOD.id)
    assert code == 1 and data["open"] == [OPEN_ID]
    [advisory] = data["advisories"]
    assert (advisory["patch"], advisory["standing"], advisory["severity"], advisory["cvss"]) \
        == (METHOD.id, "open", "high", 7.5)


def test_written_into_the_files_it_is_patched_and_the_gate_passes(catalogue, tree_copy):
    tree = tree_copy(FIRST)
    run_cli("apply", METHOD.id, "--target", str(tree), "--catalog", str(catalogue))
    code, data = advisories(tree, catalogue, METHOD.id)
    assert code == 0 and data["open"] == []
    assert [(a["id"], a["standing"]) for a in data["advisories"]] == [(OPEN_ID, "patched")]
    assert "written into" in data["advisories"][0]["how"]


def test_a_release_with_upstreams_fix_is_fixed_upstream(catalogue, tree_copy):
    code, data = advisories(tree_copy(LAST), catalogue, FIXED.id)
    assert code == 0
    assert [(a["id"], a["standing"]) for a in data["advisories"]] == [(FIXED_ID,
                                                                       "fixed-upstream")]


def test_the_human_table_names_each_advisory_and_status_json_carries_them(catalogue,
                                                                          tree_copy):
    tree = tree_copy(FIRST)
    proc = run_cli("status", "--advisories", "--target", str(tree), "--catalog",
                   str(catalogue), METHOD.id, check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        f"vLLM {FIRST}: 1 security advisory(ies) the catalogues know; 1 open")
    [row] = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith(OPEN_ID)]
    assert row[:4] == [OPEN_ID, "high", METHOD.id, "open"]
    plain = json.loads(run_cli("status", "--json", "--target", str(tree), "--catalog",
                               str(catalogue), METHOD.id, check=False).stdout)
    assert [a["id"] for a in plain["advisories"]] == [OPEN_ID]


class Covering:
    """The runtime's Coverage (runtime.autopatch) for a plugin that applies every patch."""

    selection_problem = None

    def covers(self, patch_id: str) -> bool:
        return True

    def next_step(self, patch_id: str) -> str:
        return "nothing: the plugin applies it"

    def summary(self) -> str:
        return "the plugin applies every patch"

    def to_dict(self) -> dict[str, object]:
        return {}


def test_an_applicable_fix_the_plugin_puts_in_at_start_up_counts_as_patched(catalogue,
                                                                            tree_copy):
    install = find_vllm(tree_copy(FIRST))
    patch = next(p for p in load_catalog(catalogue) if p.id == METHOD.id)
    status = patch_status(patch, install)
    assert [a.standing for a in build(install, [status]).advisories] == [Standing.OPEN]
    covered = build(install, [status], autopatch=Covering())
    assert [(a.standing, a.how) for a in covered.advisories] == [
        (Standing.PATCHED, f"the plugin puts {METHOD.id} in at every vLLM start")]
    assert covered.open_advisories == ()


def test_audit_says_which_advisories_an_upgrade_closes(catalogue, tree_copy):
    """FIXED's advisory: open on 0.17.0, closed by 0.33.0 (upstream's fix); METHOD's: a patch
    still needed after the upgrade."""
    tree = tree_copy(FIRST)
    proc = run_cli("audit", "--target", str(tree), "--to", LAST, "--json", "--catalog",
                   str(catalogue), METHOD.id, FIXED.id, check=False)
    data = json.loads(proc.stdout)
    assert data["advisories_closed"] == {LAST: [FIXED_ID]}
    assert data["advisories_needing_a_patch"] == {LAST: [OPEN_ID]}
    human = run_cli("audit", "--target", str(tree), "--to", LAST, "--catalog", str(catalogue),
                    METHOD.id, FIXED.id, check=False).stdout
    assert f"Upgrading to {LAST} closes {FIXED_ID}; still needs a patch: {OPEN_ID}." in human


# vex: the CycloneDX VEX document -------------------------------------------------------
def vex_of(tree, catalogue, *ids):
    proc = run_cli("vex", "--target", str(tree), "--catalog", str(catalogue), *ids)
    return proc.stdout


def valid(document: str) -> dict:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    assert error is None, error
    return json.loads(document)


def analysis(doc: dict) -> dict[str, str]:
    return {v["id"]: v["analysis"]["state"] for v in doc.get("vulnerabilities", [])}


def test_vex_says_exploitable_for_an_open_advisory_and_validates(catalogue, tree_copy):
    doc = valid(vex_of(tree_copy(FIRST), catalogue, METHOD.id, FIXED.id))
    component = doc["metadata"]["component"]
    assert (component["name"], component["version"], component["purl"]) == (
        "vllm", FIRST, f"pkg:pypi/vllm@{FIRST}")
    assert analysis(doc) == {OPEN_ID: "exploitable", FIXED_ID: "exploitable"}
    [open_one] = [v for v in doc["vulnerabilities"] if v["id"] == OPEN_ID]
    assert open_one["ratings"] == [{"score": 7.5, "severity": "high"}]
    assert open_one["affects"] == [{"ref": component["bom-ref"]}]
    assert "pedigree" not in component


def test_a_fix_written_into_the_files_is_resolved_with_its_pedigree(catalogue, tree_copy):
    tree = tree_copy(FIRST)
    run_cli("apply", METHOD.id, "--target", str(tree), "--catalog", str(catalogue))
    doc = valid(vex_of(tree, catalogue, METHOD.id))
    assert analysis(doc) == {OPEN_ID: "resolved_with_pedigree"}
    [patch] = doc["metadata"]["component"]["pedigree"]["patches"]
    assert patch["type"] == "backport"
    assert [r["id"] for r in patch["resolves"]] == [OPEN_ID]
    assert patch["resolves"][0]["type"] == "security"
    diff = patch["diff"]["text"]["content"]
    assert diff.startswith(f"diff --git a/{METHOD.relpath} b/{METHOD.relpath}")
    assert f"+    # >>> vllm-patches {METHOD.id} " in diff
    # what apply wrote is what `vllm-patches diff` shows for the tree before it
    before = run_cli("diff", METHOD.id, "--release", FIRST, "--catalog",
                     str(catalogue)).stdout
    assert diff == before


def test_a_release_with_upstreams_fix_is_resolved(catalogue, tree_copy):
    doc = valid(vex_of(tree_copy(LAST), catalogue, FIXED.id))
    assert analysis(doc) == {FIXED_ID: "resolved"}


def test_vex_without_a_vllm_is_one_sentence(tmp_path):
    proc = run_cli("vex", "--target", str(tmp_path), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
