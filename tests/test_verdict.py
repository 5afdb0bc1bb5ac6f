"""One verdict for every mode: what ``status`` reads from the files is what the runtime
decides about the classes that run, for every release, fork variant and version label, on
the synthetic catalogue (tests/synthetic.py).

The variants are made from each real release's own file (tests/forks.py); the runtime side
executes each variant as the target module in a fresh interpreter, as a reload would.
"""

from __future__ import annotations

import json

import pytest

from tests import forks
from tests.helpers import run_scenario
from tests.synthetic import FIRST, FIXED, FUNCTION, METHOD, RELEASES, SHAPES, pre_fix_releases
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.state import Evidence, Shape, ShapeKind, State, judge, patch_status

JUDGED = (METHOD, SHAPES, FUNCTION)  # a method wrap, a method of two shapes, a function wrap


def decorated(text: str, spec) -> str:
    """A fork added a decorator to a wrapped function."""
    node = forks.method(text, spec.name, spec.class_name)
    lines = forks.split_lines(text)
    first = lines[node.lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    lines.insert(node.lineno - 1, f"{indent}@(lambda f: f)  # a fork's decorator\n")
    return "".join(lines)


def renamed(text: str, spec) -> str:
    """A fork renamed a wrapped function (the code is gone from where the fix expects it)."""
    node = forks.method(text, spec.name, spec.class_name)
    lines = forks.split_lines(text)
    lines[node.lineno - 1] = lines[node.lineno - 1].replace(
        f"def {spec.name}(", f"def {spec.name}_fork(", 1)
    return "".join(lines)


def class_defined_again(text: str, spec) -> str:
    """The module defines the class a second time, changed: the second definition runs."""
    return forks.edit_line(text + "\n\n" + class_block(text, spec.class_name), spec.name,
                           spec.class_name)


def class_block(text: str, cls: str) -> str:
    node = forks.find_class(forks.ast.parse(text), cls)
    lines = forks.split_lines(text)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    return "".join(lines[first:node.end_lineno])


VARIANTS = {
    "release": lambda t, s: t,
    "reformatted": lambda t, s: forks.reformat(t, s.name, s.class_name),
    "crlf": lambda t, s: forks.crlf(t),
    "edited": lambda t, s: forks.edit_line(t, s.name, s.class_name),
    "decorated": decorated,
    "renamed": renamed,
    "class-twice": class_defined_again,
}
LABELS = {"own": None, "fork-in-range": "0.22.2.dev12+gabc123",
          "bumped-without-fix": "0.30.0+acme.1", "older": "0.16.0"}


def variants_of(spec):
    return {name: make for name, make in VARIANTS.items()
            if spec.class_name or name != "class-twice"}


@pytest.mark.parametrize("version", RELEASES)
def test_runtime_and_status_give_the_same_verdict(release, tree_copy, tmp_path, synthetic,
                                                  version):
    cases, expected = [], {}
    tree = tree_copy(version)
    for spec in JUDGED:
        patch = synthetic.patch(spec)
        original = (release(version) / spec.relpath).read_text(encoding="utf-8")
        for vname, make in variants_of(spec).items():
            text = make(original, spec)
            (tree / spec.relpath).write_bytes(text.encode("utf-8"))
            variant_file = tmp_path / f"{spec.id}-{vname}.py"
            variant_file.write_bytes(text.encode("utf-8"))
            for lname, label in LABELS.items():
                name = f"{spec.id}/{vname}/{lname}"
                state = patch_status(patch, find_vllm(tree, version=label)).state
                expected[name] = {patch.id: str(state)}
                cases.append({"name": name, "module": spec.module, "file": str(variant_file),
                              "version": label, "ids": [patch.id]})
        (tree / spec.relpath).write_bytes(original.encode("utf-8"))
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    live = run_scenario("live_verdicts", release(version), str(cases_file), **synthetic.env)
    assert live == expected
    # The verdicts themselves, so that agreeing on nothing cannot pass.
    assert expected[f"{METHOD.id}/release/own"] == {METHOD.id: "applicable"}
    assert expected[f"{METHOD.id}/edited/own"] == {METHOD.id: "target-modified"}
    assert expected[f"{FUNCTION.id}/reformatted/older"] == {FUNCTION.id: "applicable"}


@pytest.mark.parametrize("spec", JUDGED, ids=lambda s: s.id)
@pytest.mark.parametrize("version", RELEASES)
@pytest.mark.parametrize("variant", ["decorated", "renamed", "edited"])
def test_a_fork_change_in_the_affected_range_is_never_green(tree_copy, synthetic, spec,
                                                            version, variant):
    tree = tree_copy(version)
    path = tree / spec.relpath
    path.write_bytes(VARIANTS[variant](path.read_text(encoding="utf-8"), spec).encode("utf-8"))
    assert patch_status(synthetic.patch(spec), find_vllm(tree)).state == State.TARGET_MODIFIED


@pytest.mark.parametrize("version", RELEASES)
def test_the_last_definition_of_a_class_is_the_one_judged(tree_copy, synthetic, version):
    path = tree_copy(version) / SHAPES.relpath
    path.write_bytes(class_defined_again(path.read_text(encoding="utf-8"), SHAPES).encode())
    tree = path.parents[SHAPES.relpath.count("/")]
    assert patch_status(synthetic.patch(SHAPES), find_vllm(tree)).state == State.TARGET_MODIFIED


@pytest.mark.parametrize("kind", [ShapeKind.MISSING, ShapeKind.MODIFIED])
def test_missing_or_changed_code_reads_by_the_version(synthetic, kind):
    from packaging.version import Version

    patch = synthetic.patch(FIXED)
    evidence = Evidence(Shape(kind, "this vLLM has no class X"))
    assert judge(patch, evidence, Version(FIRST)).state == State.TARGET_MODIFIED
    assert judge(patch, evidence, Version("0.16.0")).state == State.NOT_APPLICABLE
    assert judge(patch, evidence, Version(FIXED.fixed_from)).state == State.FIXED_UPSTREAM


def test_states_print_and_serialise_as_their_names():
    assert str(State.APPLICABLE) == "applicable" and f"{State.TARGET_MODIFIED}" == "target-modified"
    assert json.dumps({"s": State.APPLIED}) == '{"s": "applied"}'


@pytest.mark.parametrize("version", pre_fix_releases(METHOD))
def test_source_mode_writes_the_fix_into_the_class_that_runs_and_takes_it_out_again(
        tree_copy, synthetic, version):
    from vllm_patches.core.shape import class_prints
    from vllm_patches.source import plan as source

    tree = tree_copy(version)
    path = tree / METHOD.relpath
    text = path.read_text(encoding="utf-8")
    twice = text + "\n\n" + class_block(text, METHOD.class_name)  # the same class again
    path.write_bytes(twice.encode("utf-8"))
    patch = synthetic.patch(METHOD)

    report = source.apply(tree, [patch])
    assert [r.outcome for r in report.results] == ["applied"]
    patched = path.read_text(encoding="utf-8")
    assert patched.count(f"# >>> vllm-patches {METHOD.id}") == 1  # one wrapped method
    assert patched.index("# >>> vllm-patches") > len(text)  # in the second, live class
    assert METHOD.original in class_prints(patched, METHOD.class_name).methods
    assert patch_status(patch, find_vllm(tree)).state == State.APPLIED
    source.revert(tree, [patch])
    assert path.read_bytes() == twice.encode("utf-8")


def test_a_function_source_mode_wrote_in_is_applied_for_the_runtime_too(release, tree_copy,
                                                                        tmp_path, synthetic):
    """Source mode renames vLLM's ``def`` and writes the fix's beside it: the runtime reads
    that module as the fix in place, not as the leftovers of a reload (runtime/patcher.py)."""
    from vllm_patches.source import plan as source

    version = RELEASES[-1]
    tree = tree_copy(version)
    report = source.apply(tree, [synthetic.patch(FUNCTION)])
    assert [r.outcome for r in report.results] == ["applied"]
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"name": "source", "module": FUNCTION.module, "version": None,
                                  "file": str(tree / FUNCTION.relpath), "ids": [FUNCTION.id]}]))
    live = run_scenario("live_verdicts", release(version), str(cases), **synthetic.env)
    assert live == {"source": {FUNCTION.id: "applied"}}
