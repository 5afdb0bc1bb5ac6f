"""A target's functions are named one way in every message: ``module.function`` for a
function of the module itself (never ``module.None.function``), ``module.Class.method``."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from tests.helpers import run_cli
from vllm_patches.core.catalog import dotted, get_patch, load_catalog
from vllm_patches.core.overlaps import overlaps
from vllm_patches.core.releases import release_tree

FUNCTION_PATCH = "stop-string-earliest-match"  # wraps vllm.v1.engine.detokenizer's function
DETOKENIZER = "vllm/v1/engine/detokenizer.py"
QUALIFIED = "vllm.v1.engine.detokenizer.check_stop_strings"


def test_dotted_leaves_out_the_class_a_function_has_not():
    assert dotted("vllm.m", None, "f") == "vllm.m.f"
    assert dotted("vllm.m", "C", "f") == "vllm.m.C.f"
    assert dotted(None, "f") == "f" and dotted("C", "f") == "C.f"


def test_every_catalogued_function_is_named_without_none():
    for patch in load_catalog():
        for target in patch.targets:
            for wrap in target.wraps:
                name = target.qualname(wrap.name)
                assert "None" not in name.split("."), name
                assert name == ".".join(p for p in (target.module, target.class_name, wrap.name)
                                        if p)
    target = get_patch(FUNCTION_PATCH).targets[0]
    assert (target.scope, target.qualname("check_stop_strings")) == (
        "vllm.v1.engine.detokenizer", QUALIFIED)


def test_a_conflict_names_the_function_without_none(tmp_path):
    patch = get_patch(FUNCTION_PATCH)
    rival = replace(patch, id="my-stop-strings", folder=tmp_path)  # wraps the same function
    [overlap] = overlaps([patch, rival])
    assert list(overlap.functions) == [QUALIFIED]
    assert f"both wrap {QUALIFIED} without" in overlap.refusal(rival)


def tree_with(tmp_path, change) -> str:
    src = release_tree("0.22.1")
    tree = tmp_path / "tree"
    for rel in ("vllm/__init__.py", DETOKENIZER):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, tree / rel)
    for info in src.glob("vllm-*.dist-info"):
        shutil.copytree(info, tree / info.name)
    text = (tree / DETOKENIZER).read_text()
    (tree / DETOKENIZER).write_text(change(text))
    return str(tree)


@pytest.mark.parametrize("change,says", [
    (lambda t: t.replace('    """Check if any stop strings are matched and truncate sequence',
                         '    stop = list(stop)  # a fork\'s line\n'
                         '    """Check if any stop strings are matched and truncate sequence', 1),
     f"{QUALIFIED} differs from every known pre-fix shape"),
    (lambda t: t.replace("def check_stop_strings(", "def check_stop_strings_renamed(", 1),
     f"this vLLM has no function {QUALIFIED}"),
], ids=["changed by a fork", "gone"])
def test_status_names_a_changed_or_missing_function_without_none(tmp_path, change, says):
    tree = tree_with(tmp_path, change)
    proc = run_cli("status", FUNCTION_PATCH, "--target", tree, "--json")
    assert proc.returncode == 0, proc.stderr
    [seen] = json.loads(proc.stdout)["patches"]
    assert seen["state"] == "target-modified"
    assert says in seen["reason"] and ".None." not in seen["reason"], seen["reason"]
    refused = run_cli("apply", FUNCTION_PATCH, "--target", tree)
    assert refused.returncode == 1 and says in refused.stderr and ".None." not in refused.stderr
