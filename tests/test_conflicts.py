"""Two patches that wrap one vLLM function: shown by status, refused at apply with a sentence
naming both (at run time and in source mode), unless they declared how they go together.

The rival is a user patch made from one of ours (the same fix under another id), so the
function both wrap is a real vLLM function of a real release."""

import json
import shutil

import pytest

from tests.helpers import run_cli, run_python
from vllm_patches.core.catalog import catalog_dir

OURS = "stop-string-earliest-match"
RIVAL = "acme-stop"
RELEASE = "0.26.0"


def rival_catalogue(tmp_path, *, excludes: bool = False):
    root = tmp_path / "acme-patches"
    shutil.copytree(catalog_dir() / OURS, root / RIVAL)
    toml = root / RIVAL / "patch.toml"
    text = toml.read_text(encoding="utf-8").replace(f'id = "{OURS}"', f'id = "{RIVAL}"')
    if excludes:
        text = text.replace('fix = "fix.py"', f'fix = "fix.py"\nexcludes = ["{OURS}"]')
    toml.write_text(text, encoding="utf-8")
    return root


APPLY_BOTH = """
import json
from vllm_patches.runtime import patcher
outcomes = patcher.apply([{first!r}, {second!r}])
verdict, _ = patcher.examine(next(p for p in patcher._select([{second!r}], True)))
print(json.dumps({{"outcomes": [o.to_dict() for o in outcomes], "second": verdict.state,
                  "why": verdict.reason}}))
"""


@pytest.mark.parametrize("excludes", [False, True], ids=["undeclared", "excludes"])
def test_status_names_the_conflict(release, tmp_path, excludes):
    root = rival_catalogue(tmp_path, excludes=excludes)
    proc = run_cli("status", "--catalog", str(root), "--target", str(release(RELEASE)), "--json")
    [conflict] = json.loads(proc.stdout)["conflicts"]
    assert set(conflict["patches"]) == {OURS, RIVAL}
    assert conflict["functions"] == ["vllm.v1.engine.detokenizer.check_stop_strings"]
    assert conflict["composition"] == ("exclusive" if excludes else "undeclared")
    human = run_cli("status", "--catalog", str(root), "--target", str(release(RELEASE)))
    assert "conflict: " in human.stdout and RIVAL in human.stdout


@pytest.mark.parametrize("excludes", [False, True], ids=["undeclared", "excludes"])
@pytest.mark.parametrize("first, second", [(OURS, RIVAL), (RIVAL, OURS)])
def test_at_run_time_the_second_is_refused_naming_both(release, tmp_path, excludes, first,
                                                      second):
    root = rival_catalogue(tmp_path, excludes=excludes)
    proc = run_python(["-c", APPLY_BOTH.format(first=first, second=second)], release(RELEASE),
                      VLLM_PATCHES_CATALOG=str(root))
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    applied, refused = seen["outcomes"]
    assert applied == {**applied, "id": first, "outcome": "applied"}
    assert refused["id"] == second and refused["outcome"] == "refused"
    assert first in refused["message"] and second in refused["message"]
    assert ("exclude each other" in refused["message"]) == excludes
    # The function holds the first's fix: the second is not reported as in place.
    assert seen["second"] == "target-modified" and first in seen["why"]


def test_in_source_mode_the_second_is_refused_and_nothing_of_it_is_written(tree_copy, tmp_path):
    root = rival_catalogue(tmp_path)
    tree = tree_copy(RELEASE)
    module = tree / "vllm/v1/engine/detokenizer.py"
    proc = run_cli("apply", OURS, RIVAL, "--catalog", str(root), "--target", str(tree), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    by_id = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert by_id[OURS]["outcome"] == "applied"
    assert by_id[RIVAL]["outcome"] == "refused" and OURS in by_id[RIVAL]["message"]
    text = module.read_text(encoding="utf-8")
    assert f"# >>> vllm-patches {OURS}" in text and f"vllm-patches {RIVAL}" not in text
    # Applied alone later, the rival still finds our fix in place and is refused.
    again = run_cli("apply", RIVAL, "--catalog", str(root), "--target", str(tree), "--json")
    assert again.returncode == 1 and f"vllm-patches {RIVAL}" not in module.read_text()
    status = run_cli("status", "--catalog", str(root), "--target", str(tree), "--json")
    states = {p["id"]: p["state"] for p in json.loads(status.stdout)["patches"]}
    assert states[OURS] == "applied" and states[RIVAL] == "target-modified"
    gate = run_cli("status", "--catalog", str(root), "--target", str(tree), "--check")
    assert gate.returncode == 1  # never green with the rival's fix missing


def test_excludes_is_checked_on_load(tmp_path):
    root = rival_catalogue(tmp_path)
    toml = root / RIVAL / "patch.toml"
    toml.write_text(toml.read_text().replace(
        'fix = "fix.py"', f'fix = "fix.py"\nexcludes = ["{RIVAL}"]'))
    proc = run_cli("status", "--catalog", str(root))
    assert proc.returncode == 2 and "excludes" in proc.stderr and "itself" in proc.stderr
    assert "Traceback" not in proc.stderr
