"""``vllm-patches audit``: before an upgrade, what each catalogued patch becomes at the release
you consider, on the real releases: still needed (keep it), fixed upstream (drop it), or the
code it wraps changed (port it, exit 1)."""

from __future__ import annotations

import json

import pytest

from tests import forks
from tests.helpers import run_cli
from vllm_patches.authoring.audit import Advice, Reading, advise
from vllm_patches.core.catalog import load_catalog
from vllm_patches.core.state import ShapeKind, State

STABLE, RELOAD, STOP = ("gemma4-mtp-stable-lm-head", "gemma4-mtp-lm-head-reload",
                        "stop-string-earliest-match")
MTP = "vllm/model_executor/models/gemma4_mtp.py"

# (from, to, patch, state at from, state at to, advice): what the real releases hold.
UPGRADES = [
    ("0.21.0", "0.23.0", STABLE, "applicable", "fixed-upstream", "drop"),
    ("0.21.0", "0.23.0", RELOAD, "not-applicable", "applicable", "keep"),
    ("0.21.0", "0.23.0", STOP, "applicable", "applicable", "keep"),
    ("0.22.1", "0.33.0", STABLE, "applicable", "fixed-upstream", "drop"),
    ("0.22.1", "0.33.0", RELOAD, "not-applicable", "applicable", "keep"),
    ("0.22.1", "0.33.0", STOP, "applicable", "fixed-upstream", "drop"),
    ("0.26.0", "0.27.0", STOP, "applicable", "fixed-upstream", "drop"),
]


def audit_json(*args: str) -> tuple[int, dict]:
    proc = run_cli("audit", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("before, after, patch_id, state_before, state_after, advice", UPGRADES)
def test_each_patch_gets_the_verdict_of_both_releases_and_one_advice(
        release, before, after, patch_id, state_before, state_after, advice):
    release(before), release(after)
    code, data = audit_json("--from", before, "--to", after)
    [found] = [p for p in data["patches"] if p["id"] == patch_id]
    assert (found["from"]["state"], found["to"][after]["state"], found["advice"]) == (
        state_before, state_after, advice)
    assert code == 0 and data["needs_port"] is False  # nothing here needs porting


@pytest.mark.parametrize("patch_id", [p.id for p in load_catalog()])
def test_every_catalogued_patch_is_audited_at_every_release_asked(release, patch_id):
    code, data = audit_json("--from", "0.22.1", "--to", "0.33.0,0.23.0", "--to", "0.23.0")
    assert data["to"] == ["0.23.0", "0.33.0"]  # sorted, each once
    [found] = [p for p in data["patches"] if p["id"] == patch_id]
    assert set(found["to"]) == {"0.23.0", "0.33.0"}
    assert found["advice"] in {a.value for a in Advice} and found["why"]


def test_the_table_has_one_column_per_release_and_progress_goes_to_stderr(release):
    proc = run_cli("audit", "--from", "0.22.1", "--to", "0.23.0,0.33.0")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Upgrade audit: from vLLM 0.22.1 at ")
    header = next(line for line in lines if line.startswith("PATCH"))
    assert header.split() == ["PATCH", "FROM", "0.22.1", "TO", "0.23.0", "TO", "0.33.0",
                              "ADVICE"]
    row = next(line for line in lines if line.startswith(STABLE + " "))
    assert row.split()[1:] == ["applicable", "fixed-upstream", "fixed-upstream", "drop"]
    assert f"{STABLE}: drop it after the upgrade: 0.23.0 and 0.33.0 ship the fix upstream" \
        in proc.stdout
    assert "audit: reading vLLM 0.33.0" in proc.stderr and "reading" not in proc.stdout


def test_a_fork_that_edited_the_wrapped_code_must_port_the_patch(tree_copy):
    fork = tree_copy("0.22.1")
    path = fork / MTP
    path.write_text(forks.edit_line(path.read_text(), "_get_full_lm_head_weight"))
    proc = run_cli("audit", "--target", str(fork), "--to", "0.23.0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith(STABLE + " "))
    assert row.split()[1:] == ["target-modified", "fixed-upstream", "port"]
    assert f"{STABLE}: port it: at 0.22.1 the code it wraps changed" in proc.stdout
    code, data = audit_json("--target", str(fork), "--to", "0.23.0")
    assert code == 1 and data["needs_port"] is True
    assert {p["id"]: p["advice"] for p in data["patches"]}[STOP] == "keep"  # untouched


def test_the_wrapped_code_gone_where_the_start_has_the_pre_fix_code_must_be_ported(release):
    """0.20.2 has no gemma4_mtp module: going there from 0.22.1 the fix has nothing to wrap
    (a release outside the affected range says not-applicable; the advice sees why)."""
    code, data = audit_json("--from", "0.22.1", "--to", "0.20.2")
    [stable] = [p for p in data["patches"] if p["id"] == STABLE]
    assert stable["to"]["0.20.2"]["state"] == "not-applicable"
    assert stable["to"]["0.20.2"]["shape"] == "no-module"
    assert stable["advice"] == "port" and code == 1


def v(state: State, shape: ShapeKind = ShapeKind.PRE_FIX, label: str = "X") -> Reading:
    return Reading(label, state, shape, "reason")


@pytest.mark.parametrize("before, after, advice", [
    (v(State.APPLICABLE), [v(State.FIXED_UPSTREAM, ShapeKind.FIXED)], Advice.DROP),
    (v(State.APPLIED), [v(State.FIXED_UPSTREAM, ShapeKind.FIXED)], Advice.DROP),
    (v(State.APPLICABLE), [v(State.APPLICABLE)], Advice.KEEP),
    (v(State.NOT_APPLICABLE, ShapeKind.MISSING), [v(State.APPLICABLE)], Advice.KEEP),
    (v(State.APPLICABLE), [v(State.FIXED_UPSTREAM, ShapeKind.FIXED), v(State.APPLICABLE)],
     Advice.KEEP),
    (v(State.APPLICABLE), [v(State.TARGET_MODIFIED, ShapeKind.MODIFIED)], Advice.PORT),
    (v(State.TARGET_MODIFIED, ShapeKind.MODIFIED), [v(State.APPLICABLE)], Advice.PORT),
    (v(State.APPLICABLE), [v(State.NOT_APPLICABLE, ShapeKind.MISSING)], Advice.PORT),
    (v(State.APPLICABLE), [v(State.NOT_APPLICABLE, ShapeKind.NO_MODULE)], Advice.PORT),
    (v(State.APPLICABLE), [v(State.NOT_APPLICABLE, ShapeKind.MODIFIED)], Advice.PORT),
    (v(State.APPLICABLE), [v(State.NOT_APPLICABLE, ShapeKind.OTHER_RELEASE)], Advice.DROP),
    (v(State.NOT_APPLICABLE, ShapeKind.MISSING), [v(State.NOT_APPLICABLE, ShapeKind.MISSING)],
     Advice.NOTHING),
    (v(State.NOT_APPLICABLE, ShapeKind.MISSING), [v(State.FIXED_UPSTREAM, ShapeKind.FIXED)],
     Advice.NOTHING),
])
def test_the_advice_rule(before, after, advice):
    assert advise(before, after)[0] == advice


@pytest.mark.parametrize("args, words", [
    (["--from", "0.22.1", "--to", "0.3x"], "is not a vLLM release version"),
    (["--from", "0.22.1", "--to", ","], "--to names no release"),
    (["--from", "0.22.1", "--target", ".", "--to", "0.23.0"], "give one of them"),
    (["--to", "0.23.0"], "no vLLM is installed here to audit from"),
    (["--from", "0.22.1", "--to", "0.23.0", "no-such-patch"], "no-such-patch"),
])
def test_bad_input_is_one_sentence_and_exit_2(args, words):
    proc = run_cli("audit", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    error = [line for line in proc.stderr.splitlines() if not line.startswith("audit: ")]
    assert len(error) == 1 and error[0].startswith("vllm-patches: ") and words in error[0]


def test_audit_judges_a_user_catalogue_given_with_catalog(release, tmp_path):
    from tests.test_user_catalogue import user_catalogue

    root = user_catalogue(tmp_path)  # a copy of stop-string-earliest-match as acme-stop
    release("0.26.0"), release("0.27.0")
    proc = run_cli("audit", "--catalog", str(root), "--from", "0.26.0", "--to", "0.27.0",
                   "--json", "acme-stop")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    [row] = [p for p in data["patches"] if p["id"] == "acme-stop"]
    assert row["advice"] == "drop"
