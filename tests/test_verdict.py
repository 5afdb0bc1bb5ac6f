"""One verdict for every mode: what ``status`` reads from the files is what the runtime
decides about the classes that run, for every release, fork variant and version label.

The variants are made from each real release's own file (tests/forks.py); the runtime side
executes each variant as the target module in a fresh interpreter, as a reload would.
"""

from __future__ import annotations

import json

import pytest

from tests import forks
from tests.conftest import AFFECTED, BEFORE, FIXED
from tests.helpers import run_scenario
from vllm_patches.core.catalog import get_patch, load_catalog
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.state import judge, Evidence, Shape, ShapeKind, State, patch_status

# Every release the tests use whose model modules import on a CPU without xgrammar
# (0.33.0's import chain needs it; its files are judged by the other tests).
LIVE_RELEASES = (BEFORE, *AFFECTED, FIXED)
MTP = "vllm/model_executor/models/gemma4_mtp.py"
STABLE, RELOAD = "gemma4-mtp-stable-lm-head", "gemma4-mtp-lm-head-reload"


def _wrapped_method(text: str) -> str:
    """The first method that some catalogued patch wraps and this text defines."""
    for patch in load_catalog():
        for wrap in patch.targets[0].wraps:
            if f"def {wrap.name}(" in text:
                return wrap.name
    raise AssertionError("no wrapped method in this file")


def decorated(text: str) -> str:
    """A fork added a decorator to a wrapped method."""
    node = forks.method(text, _wrapped_method(text))
    lines = forks.split_lines(text)
    first = lines[node.lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    lines.insert(node.lineno - 1, f"{indent}@(lambda f: f)  # a fork's decorator\n")
    return "".join(lines)


def renamed(text: str) -> str:
    """A fork renamed a wrapped method (the code is gone from where the fix expects it)."""
    name = _wrapped_method(text)
    node = forks.method(text, name)
    lines = forks.split_lines(text)
    lines[node.lineno - 1] = lines[node.lineno - 1].replace(f"def {name}(", f"def {name}_fork(", 1)
    return "".join(lines)


def class_defined_again(text: str) -> str:
    """The module defines the class a second time, changed: the second definition runs."""
    node = forks.find_class(forks.ast.parse(text), forks.CLASS)
    lines = forks.split_lines(text)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    block = "".join(lines[first:node.end_lineno])
    return forks.edit_line(text + "\n\n" + block, _wrapped_method(text))


def identity(text: str) -> str:
    return text


VARIANTS = {
    "release": identity,
    "reformatted": lambda t: forks.reformat(t, _wrapped_method(t)),
    "crlf": forks.crlf,
    "edited": lambda t: forks.edit_line(t, _wrapped_method(t)),
    "decorated": decorated,
    "renamed": renamed,
    "class-twice": class_defined_again,
}
LABELS = {"own": None, "fork-in-range": "0.22.2.dev12+gabc123",
          "bumped-without-fix": "0.24.0+acme.1", "older": "0.19.0"}


@pytest.mark.parametrize("version", LIVE_RELEASES)
def test_runtime_and_status_give_the_same_verdict(release, tree_copy, tmp_path, version):
    original = release(version) / MTP
    variants = {"release": None}
    if original.exists():
        text = original.read_text(encoding="utf-8")
        variants = {name: make(text) for name, make in VARIANTS.items()}
    cases, expected = [], {}
    tree = tree_copy(version)
    for vname, text in variants.items():
        variant_file = None
        if text is not None:
            (tree / MTP).write_bytes(text.encode("utf-8"))
            variant_file = tmp_path / f"{vname}.py"
            variant_file.write_bytes(text.encode("utf-8"))
            variant_file = str(variant_file)
        for lname, label in LABELS.items():
            name = f"{vname}/{lname}"
            install = find_vllm(tree, version=label)
            expected[name] = {p.id: str(patch_status(p, install).state) for p in load_catalog()}
            cases.append({"name": name, "module": "vllm.model_executor.models.gemma4_mtp",
                          "file": variant_file, "version": label})
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    live = run_scenario("live_verdicts", release(version), str(cases_file))
    assert live == expected


@pytest.mark.parametrize("version", AFFECTED)
@pytest.mark.parametrize("variant", ["decorated", "renamed", "edited"])
def test_a_fork_change_in_the_affected_range_is_never_green(tree_copy, version, variant):
    tree = tree_copy(version)
    path = tree / MTP
    path.write_bytes(VARIANTS[variant](path.read_text(encoding="utf-8")).encode("utf-8"))
    assert patch_status(get_patch(STABLE), find_vllm(tree)).state == State.TARGET_MODIFIED


def test_the_last_definition_of_a_class_is_the_one_judged(tree_copy):
    tree = tree_copy(AFFECTED[-1])
    path = tree / MTP
    path.write_bytes(class_defined_again(path.read_text(encoding="utf-8")).encode("utf-8"))
    status = patch_status(get_patch(STABLE), find_vllm(tree))
    assert status.state == State.TARGET_MODIFIED


def test_a_bumped_label_over_pre_fix_code_is_applicable(release):
    install = find_vllm(release(AFFECTED[-1]), version="0.24.0+acme.1")
    assert patch_status(get_patch(STABLE), install).state == State.APPLICABLE


@pytest.mark.parametrize("kind", [ShapeKind.MISSING, ShapeKind.MODIFIED])
def test_missing_or_changed_code_reads_by_the_version(kind):
    from packaging.version import Version

    patch = get_patch(STABLE)
    evidence = Evidence(Shape(kind, "this vLLM has no class X"))
    assert judge(patch, evidence, Version("0.22.1")).state == State.TARGET_MODIFIED
    assert judge(patch, evidence, Version("0.20.0")).state == State.NOT_APPLICABLE
    assert judge(patch, evidence, Version("0.30.0")).state == State.FIXED_UPSTREAM


def test_states_print_and_serialise_as_their_names():
    assert str(State.APPLICABLE) == "applicable" and f"{State.TARGET_MODIFIED}" == "target-modified"
    assert json.dumps({"s": State.APPLIED}) == '{"s": "applied"}'


def test_source_mode_writes_the_fix_into_the_class_that_runs_and_takes_it_out_again(tree_copy):
    from vllm_patches.source import plan as source
    from vllm_patches.core.shape import class_prints

    tree = tree_copy(AFFECTED[-1])
    path = tree / MTP
    text = path.read_text(encoding="utf-8")
    node = forks.find_class(forks.ast.parse(text), forks.CLASS)
    lines = forks.split_lines(text)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    twice = text + "\n\n" + "".join(lines[first:node.end_lineno])  # the same class again
    path.write_bytes(twice.encode("utf-8"))

    report = source.apply(tree, [get_patch(STABLE)])
    assert [r.outcome for r in report.results] == ["applied"]
    patched = path.read_text(encoding="utf-8")
    assert patched.count("# >>> vllm-patches gemma4-mtp-stable-lm-head") == 2  # two wrapped methods
    assert patched.index("# >>> vllm-patches") > len(text)  # both in the second, live class
    assert any(n.startswith("_vllm_patches_orig_") for n in class_prints(patched, forks.CLASS).methods)
    assert patch_status(get_patch(STABLE), find_vllm(tree)).state == State.APPLIED
    source.revert(tree, [get_patch(STABLE)])
    assert path.read_bytes() == twice.encode("utf-8")
