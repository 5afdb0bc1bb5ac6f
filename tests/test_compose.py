"""Two patches on one function that declare an order (``after = ["other-id"]``) compose:
both go in, the one that says ``after`` around the other, at run time and in source mode,
whichever goes in first; revert of either one alone leaves the other in place, working, and
(in source mode) the file exactly as applying only the other writes it; the verdict and
``status`` say so at every step. Without a declared order the second is still refused,
with a sentence saying how to declare one; a cycle or an unknown id in ``after`` is one
sentence at load.

The pair is synthetic, written by the test as a user writes a catalogue, over a real
function of a real release: ``StructuredOutputsParams.all_constraints_none`` of
vllm/sampling_params.py in 0.26.0. Each fix raises its own letter when the regex holds
it, so ``"ab"`` tells which one runs outside."""

from __future__ import annotations

import json

import pytest

from tests.catalogues import print_of, write_patch
from tests.helpers import run_cli, run_python
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.state import patch_status
from vllm_patches.source import plan
from vllm_patches.source.record import load, record_path

RELEASE = "0.26.0"
SP = "vllm/sampling_params.py"
CLS, NAME = "StructuredOutputsParams", "all_constraints_none"
INNER, OUTER = "acme-inner", "acme-outer"  # fixes raising "A" and "B"


def fix(letter: str) -> str:
    return f'''class {CLS}:
    def {NAME}(self) -> bool:
        if self.regex is not None and "{letter}" in self.regex:
            raise ValueError("{letter.upper()}")
        return self._vllm_patches_orig_{NAME}()
'''


def write_pair(root, *, inner_after=(), outer_after=(INNER,)):
    pre = [print_of(RELEASE, SP, NAME, CLS)]
    for pid, letter, after in ((INNER, "a", inner_after), (OUTER, "b", outer_after)):
        write_patch(root, pid, name=NAME, fix=fix(letter), pre_fix=pre,
                    module="vllm.sampling_params", class_name=CLS,
                    fields={"after": list(after)} if after else None)
    return root


@pytest.fixture
def pair(tmp_path, monkeypatch):
    root = write_pair(tmp_path / "acme")
    monkeypatch.setenv("VLLM_PATCHES_CATALOG", str(root))
    return root


def states(tree) -> dict[str, str]:
    install, record = find_vllm(target=tree), load(tree)
    return {pid: str(patch_status(get_patch(pid), install, record=record).state)
            for pid in (INNER, OUTER)}


def outcomes(report) -> dict[str, str]:
    return {r.id: r.outcome for r in report.results}


def alone(tree_copy, tmp_path, pid: str) -> bytes:
    """The bytes of the module with only ``pid`` applied, in a tree of its own (made before
    the test's own tree: ``tree_copy`` makes one folder per release)."""
    fresh = tree_copy(RELEASE).rename(tmp_path / f"alone-{pid}")
    assert outcomes(plan.apply(fresh, [get_patch(pid)])) == {pid: "applied"}
    return (fresh / SP).read_bytes()


@pytest.mark.parametrize("first", [INNER, OUTER])
@pytest.mark.parametrize("reverted", [INNER, OUTER])
def test_source_mode_composes_and_each_reverts_alone(pair, tree_copy, tmp_path, first,
                                                     reverted):
    expected = {pid: alone(tree_copy, tmp_path, pid) for pid in (INNER, OUTER)}
    tree = tree_copy(RELEASE)
    module = tree / SP
    original = module.read_bytes()
    second = OUTER if first == INNER else INNER
    assert states(tree) == {INNER: "applicable", OUTER: "applicable"}

    assert outcomes(plan.apply(tree, [get_patch(first)])) == {first: "applied"}
    # The function holds one fix: the other still reads as applicable (not target-modified).
    assert states(tree) == {first: "applied", second: "applicable"}
    assert outcomes(plan.apply(tree, [get_patch(second)])) == {second: "applied"}
    assert states(tree) == {INNER: "applied", OUTER: "applied"}
    both = module.read_text()
    # Declared order whatever order they went in: the inner fix first, the outer around it.
    assert both.index(f"# >>> vllm-patches {INNER}") < both.index(f"# >>> vllm-patches {OUTER}")
    assert f"def _vllm_patches_under_acme_outer__{NAME}(self)" in both

    kept = OUTER if reverted == INNER else INNER
    assert outcomes(plan.revert(tree, [get_patch(reverted)])) == {reverted: "reverted"}
    assert states(tree) == {reverted: "applicable", kept: "applied"}
    assert module.read_bytes() == expected[kept]
    assert [e.patch_id for e in load(tree).entries] == [kept]

    assert outcomes(plan.revert(tree, [get_patch(kept)])) == {kept: "reverted"}
    assert module.read_bytes() == original
    assert states(tree) == {INNER: "applicable", OUTER: "applicable"}
    assert not record_path(tree).exists()


def test_status_and_the_cli_show_both_applied_and_no_conflict(pair, tree_copy):
    tree = tree_copy(RELEASE)
    apply = run_cli("apply", OUTER, INNER, "--target", str(tree), "--json",
                    VLLM_PATCHES_CATALOG=str(pair))
    assert apply.returncode == 0, apply.stdout + apply.stderr
    status = json.loads(run_cli("status", "--target", str(tree), "--json",
                                VLLM_PATCHES_CATALOG=str(pair)).stdout)
    by_id = {p["id"]: p for p in status["patches"]}
    assert by_id[INNER]["state"] == by_id[OUTER]["state"] == "applied"
    assert by_id[INNER]["mode"] == by_id[OUTER]["mode"] == "source"
    assert status["conflicts"] == []
    gate = run_cli("status", INNER, OUTER, "--target", str(tree), "--check",
                   VLLM_PATCHES_CATALOG=str(pair))
    assert gate.returncode == 0, gate.stdout + gate.stderr

    revert = run_cli("revert", INNER, "--target", str(tree), "--json",
                     VLLM_PATCHES_CATALOG=str(pair))
    assert revert.returncode == 0, revert.stdout + revert.stderr
    status = json.loads(run_cli("status", "--target", str(tree), "--json",
                                VLLM_PATCHES_CATALOG=str(pair)).stdout)
    assert {p["id"]: p["state"] for p in status["patches"] if p["id"] in (INNER, OUTER)} \
        == {INNER: "applicable", OUTER: "applied"}


RUNTIME = """
import json
from vllm_patches.runtime import patcher
from vllm_patches.core.catalog import get_patch

def probe():
    from vllm.sampling_params import StructuredOutputsParams as S
    out = {}
    for regex in ("a", "b", "ab", "x"):
        try:
            out[regex] = S(regex=regex).all_constraints_none()
        except ValueError as exc:
            out[regex] = str(exc)
    return out

def step(outcomes):
    verdicts = {p: str(patcher.examine(get_patch(p))[0].state) for p in %(ids)r}
    return {"outcomes": {o.id: o.outcome for o in outcomes}, "probe": probe(),
            "verdicts": verdicts}

import vllm.sampling_params as sp
before = dict(vars(sp.StructuredOutputsParams))
steps = [step([])]
for verb, pid in %(steps)r:
    steps.append(step(getattr(patcher, verb)([pid])))
after = dict(vars(sp.StructuredOutputsParams))
print(json.dumps({"steps": steps, "same": before.keys() == after.keys()
                  and all(before[k] is after[k] for k in before)}))
"""

NONE = {"a": False, "b": False, "ab": False, "x": False}
ONLY_A = {"a": "A", "b": False, "ab": "A", "x": False}
ONLY_B = {"a": False, "b": "B", "ab": "B", "x": False}


@pytest.mark.parametrize("outer", [OUTER, INNER], ids=["b-after-a", "a-after-b"])
def test_at_run_time_the_chain_keeps_its_order_and_each_reverts_alone(release, tmp_path,
                                                                      outer):
    """Both orders: the one that says ``after`` runs outside (``"ab"`` raises its letter),
    whichever goes in first; a revert in the middle of the chain rebuilds it."""
    inner = INNER if outer == OUTER else OUTER
    root = write_pair(tmp_path / "acme", inner_after=[OUTER] if outer == INNER else (),
                      outer_after=[INNER] if outer == OUTER else ())
    both = {"a": "A", "b": "B", "ab": "B" if outer == OUTER else "A", "x": False}
    plan_ = [("apply", outer), ("apply", inner), ("revert", outer), ("apply", outer),
             ("revert", inner), ("revert", outer)]
    proc = run_python(["-c", RUNTIME % {"ids": (INNER, OUTER), "steps": plan_}],
                      release(RELEASE), VLLM_PATCHES_CATALOG=str(root))
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    inner_only = ONLY_A if inner == INNER else ONLY_B
    outer_only = ONLY_B if outer == OUTER else ONLY_A
    expected = [
        ({}, NONE, {inner: "applicable", outer: "applicable"}),
        ({outer: "applied"}, outer_only, {inner: "applicable", outer: "applied"}),
        ({inner: "applied"}, both, {inner: "applied", outer: "applied"}),
        ({outer: "reverted"}, inner_only, {inner: "applied", outer: "applicable"}),
        ({outer: "applied"}, both, {inner: "applied", outer: "applied"}),
        ({inner: "reverted"}, outer_only, {inner: "applicable", outer: "applied"}),
        ({outer: "reverted"}, NONE, {inner: "applicable", outer: "applicable"}),
    ]
    got = [(s["outcomes"], s["probe"], s["verdicts"]) for s in seen["steps"]]
    assert got == expected
    assert seen["same"]  # every name of the class holds what it held before


def test_without_an_order_the_second_is_refused_saying_how_to_declare_one(tmp_path,
                                                                          tree_copy):
    root = write_pair(tmp_path / "acme", outer_after=())
    tree = tree_copy(RELEASE)
    proc = run_cli("apply", INNER, OUTER, "--target", str(tree), "--json",
                   VLLM_PATCHES_CATALOG=str(root))
    assert proc.returncode == 1
    by_id = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert by_id[INNER]["outcome"] == "applied" and by_id[OUTER]["outcome"] == "refused"
    assert f'after = ["{INNER}"]' in by_id[OUTER]["message"]
    assert f"vllm-patches {OUTER}" not in (tree / SP).read_text()


@pytest.mark.parametrize("inner_after, outer_after, words", [
    ([OUTER], [INNER], ["cycle", f"{INNER} after {OUTER} after {INNER}"]),
    ((), ["acme-nowhere"], ["acme-nowhere", "which no catalogue holds"]),
    ((), [INNER, INNER + "x"], ["acme-innerx"]),
], ids=["cycle", "unknown", "unknown-beside-known"])
def test_a_bad_order_is_one_sentence_at_load(tmp_path, inner_after, outer_after, words):
    root = write_pair(tmp_path / "acme", inner_after=inner_after, outer_after=outer_after)
    proc = run_cli("status", "--catalog", str(root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert all(word in proc.stderr for word in words), proc.stderr
    assert "'after'" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_after_and_excludes_of_one_id_is_refused(tmp_path):
    root = write_pair(tmp_path / "acme")
    toml = root / OUTER / "patch.toml"
    toml.write_text(toml.read_text().replace("after =", f'excludes = ["{INNER}"]\nafter ='))
    proc = run_cli("status", "--catalog", str(root))
    assert proc.returncode == 2 and "after" in proc.stderr and "excludes" in proc.stderr
    assert "Traceback" not in proc.stderr
