"""The Python API: a typed ``__all__`` that imports nothing until it is used, the mode in
each verb's name, and one status report that the library builds and the CLI prints.

The status tests run on real release trees; they assert over whatever the catalogue
says there, never over one catalogue entry."""

from __future__ import annotations

import ast
import inspect
import json
import typing
import warnings

import pytest

import vllm_patches
from tests.helpers import run_cli, run_python
from vllm_patches.core.state import APPLICABLE, PatchStatus, State
from vllm_patches.core.status import StatusReport, build
from vllm_patches.core.words import Outcome
from vllm_patches.runtime.autopatch import AutoPatch
from vllm_patches.runtime.patcher import Result
from vllm_patches.source.record import record_path, state_dir
from vllm_patches.source.transaction import JOURNAL

RELEASES = ("0.20.2", "0.22.1", "0.26.0", "0.33.0")


def test_importing_the_package_imports_only_its_version():
    code = ("import sys; before = set(sys.modules); import vllm_patches\n"
            "print(sorted(set(sys.modules) - before))")
    new = ast.literal_eval(run_python(["-c", code]).stdout.strip().splitlines()[-1])
    assert set(new) <= {"vllm_patches", "vllm_patches._version"}


def test_every_name_of_all_exists_and_the_types_are_classes():
    names = set(vllm_patches.__all__)
    assert {"apply", "apply_runtime", "apply_source", "revert", "revert_runtime",
            "revert_source", "status", "StatusReport", "State", "Mode", "PatchError",
            "Outcome", "RuntimeResult", "VllmPatchesError"} <= names
    for name in names:
        value = getattr(vllm_patches, name)
        assert callable(value) or name == "__version__", name
    assert issubclass(vllm_patches.PatchError, Exception)
    assert vllm_patches.StatusReport is StatusReport and vllm_patches.State is State
    # Outcome is the word of a result's .outcome; RuntimeResult what apply_runtime returns.
    assert vllm_patches.Outcome is Outcome and vllm_patches.RuntimeResult is Result
    with pytest.raises(AttributeError):
        vllm_patches.no_such_name  # noqa: B018


def test_the_runtime_names_are_the_ones_apply_and_revert_always_were():
    assert vllm_patches.apply is vllm_patches.apply_runtime
    assert vllm_patches.revert is vllm_patches.revert_runtime


def _functions():
    return [(name, getattr(vllm_patches, name)) for name in vllm_patches.__all__
            if inspect.isfunction(getattr(vllm_patches, name))]


@pytest.mark.parametrize("name, function", _functions(), ids=[n for n, _ in _functions()])
def test_each_public_function_is_typed_in_full(name, function):
    # Every annotation resolves (or this raises): the API's own names, its types from __all__.
    types = {n: getattr(vllm_patches, n) for n in vllm_patches.__all__ if n[0].isupper()}
    hints = typing.get_type_hints(function, localns=types)
    params = inspect.signature(function).parameters
    assert "return" in hints, name
    assert set(params) <= set(hints), (name, set(params) - set(hints))


def test_the_package_is_marked_typed_in_what_pip_installs(plugin_site):
    assert (plugin_site / "vllm_patches" / "py.typed").is_file()


# status(): the one report -------------------------------------------------------------
@pytest.mark.parametrize("version", RELEASES)
def test_status_returns_the_report_that_status_json_prints(release, version):
    tree = release(version)
    report = vllm_patches.status(target=tree)
    assert isinstance(report, StatusReport)
    assert str(report.install.version) == version and report.install.location == tree
    assert report.patches and all(isinstance(s, PatchStatus) for s in report.patches)
    assert report.autopatch is None and report.covered == frozenset()  # a target tree
    assert report.pending_write is False and report.warnings == ()
    assert set(report.needs_attention) <= set(report.patches)
    printed = run_cli("status", "--target", str(tree), "--json")
    assert json.loads(printed.stdout) == json.loads(json.dumps(report.to_dict()))


def test_status_knows_the_pending_journal_and_the_corrupt_record(tree_copy):
    tree = tree_copy("0.26.0")
    state_dir(tree).mkdir()
    record_path(tree).write_text("{not json")
    (state_dir(tree) / JOURNAL).write_text("{}")
    report = vllm_patches.status(target=tree)
    assert report.pending_write is True
    assert len(report.warnings) == 1 and str(record_path(tree)) in report.warnings[0]
    printed = run_cli("status", "--target", str(tree), "--json")
    assert json.loads(printed.stdout)["pending_write"] is True
    assert f"vllm-patches: warning: {report.warnings[0]}" in printed.stderr


def test_a_patch_the_plugin_applies_at_start_up_needs_no_attention(release):
    """The report's autopatch coverage: with the real AutoPatch of an environment whose
    plugin loads every patch, each applicable patch is covered, says so, and is not what
    ``status --check`` fails for."""
    reports = [vllm_patches.status(target=release(v)) for v in RELEASES]
    report = next(r for r in reports if any(s.state == APPLICABLE for s in r.patches))
    covered = build(report.install, report.patches,
                    autopatch=AutoPatch(plugin_installed=True, vllm_plugins=None, selection=None))
    applicable = {s.patch.id for s in report.patches if s.state == APPLICABLE}
    assert covered.covered == applicable
    assert not {s.patch.id for s in covered.needs_attention} & applicable
    assert all("the plugin applies it at start-up" in s.next_step
               for s in covered.patches if s.patch.id in applicable)
    assert {s.patch.id for s in report.needs_attention} >= applicable
    data = covered.to_dict()
    assert data["autopatch"]["plugin_loads"] is True
    assert {p["id"] for p in data["patches"] if p["autopatch"]} == applicable


def test_unpacking_the_report_as_the_old_tuple_works_with_a_warning(release):
    report = vllm_patches.status(target=release(RELEASES[-1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        install, statuses = report
    assert install is report.install and statuses == list(report.patches)
    assert [w.category for w in caught] == [DeprecationWarning]
