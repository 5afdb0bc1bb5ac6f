"""The vLLM plugin: every process that vLLM starts runs the fix once its model module is imported.

The patches are the synthetic catalogue's (tests/synthetic.py): METHOD's class is the one
whose marks the scenarios read (tests/scenarios/marks.py).

The subprocess tests run vLLM's real code from a release wheel in a fresh
interpreter in which vllm-patches is pip-installed (``plugin_site``: its
dist-info, and so its ``vllm.general_plugins`` entry point, is on the path),
as ``pip install vllm-patches`` leaves it. vLLM's own ``load_general_plugins``
finds the entry point, as it does in the API server, engine core and workers.
"""

from __future__ import annotations

import ast
import json

import pytest
from packaging.version import Version

from tests.helpers import SCENARIOS, run_cli, run_python, run_scenario
from tests.synthetic import FIXED, LAST, METHOD, SHAPES
from vllm_patches.core.catalog import get_patch, load_catalog
from vllm_patches.core.state import PATCHED, classify
from vllm_patches.runtime import plugin

AFFECTED = LAST  # the built-in catalogue has no fix of METHOD's module for it
STABLE = METHOD.id
OTHER = SHAPES.id  # the other synthetic patch of METHOD's module
pytestmark = pytest.mark.usefixtures("synthetic_env")


def run_steps(tree, site, *steps, **env) -> tuple[dict, str]:
    """``tests/scenarios/steps.py STEPS`` against ``tree``; its JSON and its stderr."""
    proc = run_python([str(SCENARIOS / "steps.py"), *steps], site, tree, **env)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def applied_lines(stderr: str, patch_id: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "[vllm_patches]" in line and f"applied {patch_id} (runtime)" in line]


def report_lines(path, event: str = "patch") -> list[dict]:
    """The report's lines of one event: ``patch`` (one per process and patch) or ``armed``."""
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == event]


# Cheap to arm ------------------------------------------------------------------
def test_the_hook_watches_exactly_the_modules_the_catalogue_targets():
    assert set(plugin.target_modules()) == {t.module for p in load_catalog() for t in p.targets}


HOOK_MODULES = {"vllm_patches", "vllm_patches._version", "vllm_patches.runtime",
                "vllm_patches.runtime.importhook",
                "vllm_patches.runtime.plugin"}


@pytest.mark.parametrize("with_report, allowed", [
    (False, HOOK_MODULES),
    # The armed line: the small writer, the ownership rule it shares with the reader, the
    # C JSON string encoder and flock; no json (it imports re), logging, datetime,
    # catalogue or vLLM.
    (True, HOOK_MODULES | {"vllm_patches.runtime.reportline", "vllm_patches.core",
                           "vllm_patches.core.ownership", "errno", "_json", "fcntl"}),
], ids=["no report", "with VLLM_PATCHES_REPORT"])
def test_register_imports_only_the_import_hook(tmp_path, with_report, allowed):
    code = (
        "import sys; before = set(sys.modules)\n"
        "import vllm_patches.runtime.plugin as p; p.register(); p.register()\n"
        "print(sorted(set(sys.modules) - before))"
    )
    report = tmp_path / "report.jsonl"
    env = {"VLLM_PATCHES_REPORT": str(report)} if with_report else {}
    proc = run_python(["-c", code], **env)
    new = ast.literal_eval(proc.stdout.strip())
    assert set(new) <= allowed
    assert proc.stderr == ""
    assert report.exists() == with_report


@pytest.mark.parametrize("raw, selected", [
    ("", None), ("all", None), (" ALL ", None), ("none", ()), ("None", ()),
    ("all,", None), (" , all,ALL", None), ("none,", ()),
    (f"{STABLE}", (STABLE,)), (f" {STABLE} , {OTHER},{STABLE}", (STABLE, OTHER)),
    (f"{STABLE},,", (STABLE,)),
])
def test_vllm_patches_selects_all_none_or_a_comma_list(monkeypatch, raw, selected):
    monkeypatch.setenv("VLLM_PATCHES", raw)
    assert plugin.selection() == selected
    assert plugin.read_selection() == (selected, None)


@pytest.mark.parametrize("raw", [",", " , ,", "all,none", f"all,{STABLE}", f"{STABLE},none"])
def test_a_value_that_names_nothing_or_mixes_all_or_none_selects_no_patch_and_says_so(
        monkeypatch, raw):
    monkeypatch.setenv("VLLM_PATCHES", raw)
    selected, problem = plugin.read_selection()
    assert selected == () and plugin.selection() == ()
    assert problem.startswith(f"VLLM_PATCHES={raw!r} ") and "apply no patch" in problem


def test_the_entry_point_is_declared_in_the_package_metadata(plugin_site):
    proc = run_python(["-c", (
        "from importlib.metadata import entry_points\n"
        "print([(e.name, e.value) for e in entry_points(group='vllm.general_plugins')])"
    )], plugin_site)
    assert ("vllm_patches", "vllm_patches.runtime.plugin:register") in ast.literal_eval(proc.stdout)


# In vLLM's processes ---------------------------------------------------------------
@pytest.fixture(scope="module")
def plugin_run(release, plugin_site, tmp_path_factory, synthetic):
    """A process that loads vLLM's general plugins, imports the model module, then forks."""
    report = tmp_path_factory.mktemp("plugin-run") / "report.jsonl"
    result, stderr = run_steps(release(AFFECTED), plugin_site,
                               "plugins", "register", "check", "import", "check", "fork",
                               VLLM_PATCHES_REPORT=str(report), **synthetic.env)
    return result, stderr, report


def test_vllm_loads_the_plugin_and_the_class_is_patched_once_imported(plugin_run):
    result, _, _ = plugin_run
    assert result["armed_by"] == ["plugin"]
    assert result["checks"] == [[], [STABLE]]


def test_each_applied_patch_logs_one_info_line_with_pid_mode_and_version(plugin_run):
    result, stderr, _ = plugin_run
    lines = applied_lines(stderr, STABLE)
    assert len(lines) == 1
    assert lines[0].startswith("INFO")
    assert f"pid {result['pid']}" in lines[0] and f"vLLM {AFFECTED}" in lines[0]


def test_the_report_gets_one_line_per_patch_for_the_process(plugin_run):
    result, _, report = plugin_run
    own = [e for e in report_lines(report) if e["pid"] == result["pid"]]
    outcomes = {e["patch"]: e["outcome"] for e in own}
    assert len(own) == len(outcomes)  # one line per patch whose module the process imported
    assert (outcomes[STABLE], outcomes[OTHER], outcomes[FIXED.id]) == \
        ("applied", "applied", "skipped")
    assert all(e["vllm"] == AFFECTED and e["via"] == "plugin" and e["ppid"] for e in own)


def test_the_process_that_loaded_the_plugin_reported_first_that_it_armed(plugin_run):
    result, _, report = plugin_run
    (armed,) = report_lines(report, "armed")  # register() ran six times, once by vLLM
    assert (armed["pid"], armed["via"], armed["patches"]) == (result["pid"], "plugin", "all")
    first = json.loads(report.read_text().splitlines()[0])
    assert first["event"] == "armed"


def test_every_line_of_the_process_and_of_its_forked_child_names_one_run(plugin_run):
    """The process that armed first made the run; the child it forked inherited it."""
    result, _, report = plugin_run
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert {e["pid"] for e in lines} == {result["pid"], result["forked"][0]["pid"]}
    (run,) = {e["run"] for e in lines}
    assert run.split("-")[1] == str(result["pid"])


def test_a_child_forked_after_patching_runs_the_fix_and_says_so_in_the_report(plugin_run):
    result, _, report = plugin_run
    (child,) = result["forked"]
    assert child["patched"] == [STABLE]
    (line,) = [e for e in report_lines(report) if e["pid"] == child["pid"]
               and e["patch"] == STABLE]
    assert (line["ppid"], line["patch"], line["outcome"]) == (result["pid"], STABLE, "inherited")


def test_vllm_patches_none_leaves_the_class_alone(release, plugin_site, tmp_path):
    report = tmp_path / "report.jsonl"
    result, stderr = run_steps(release(AFFECTED), plugin_site, "plugins", "import", "check",
                               VLLM_PATCHES="none", VLLM_PATCHES_REPORT=str(report))
    assert result["checks"] == [[]]
    assert "vllm_patches" not in stderr
    assert not report.exists()


def test_a_vllm_process_that_never_imports_a_target_still_proves_the_plugin_loaded(
        release, plugin_site, tmp_path):
    """A server whose model uses no patched module: the report says the plugin ran and had
    nothing to do, which an empty report could not tell from a plugin that never loaded."""
    report = tmp_path / "report.jsonl"
    result, _ = run_steps(release(AFFECTED), plugin_site, "plugins", "check",
                          VLLM_PATCHES=STABLE, VLLM_PATCHES_REPORT=str(report))
    assert report_lines(report) == []
    (armed,) = report_lines(report, "armed")
    assert (armed["pid"], armed["via"], armed["patches"]) == (result["pid"], "plugin", [STABLE])
    shown = run_cli("report", str(report), "--check", "--run", armed["run"])
    assert shown.returncode == 0, shown.stderr
    assert "1 process(es) armed; target not imported" in shown.stdout
    asked = run_cli("report", str(report), "--check", "--run", armed["run"], STABLE)
    assert asked.returncode == 1 and "no evidence" in asked.stderr


@pytest.mark.parametrize("raw, patched", [("all,", [STABLE]), (",", [])])
def test_status_and_the_plugin_read_vllm_patches_alike(release, plugin_site, raw, patched):
    """What the plugin does in a vLLM process is what status says it does, for the values
    that used to part them (``all,`` was an unknown id, ``,`` a silent none)."""
    result, stderr = run_steps(release(AFFECTED), plugin_site, "plugins", "import", "check",
                               VLLM_PATCHES=raw)
    assert result["checks"] == [patched]
    paths = (plugin_site, release(AFFECTED))
    data = json.loads(run_cli("status", "--json", paths=paths, VLLM_PATCHES=raw).stdout)
    covered = {p["id"] for p in data["patches"] if p["autopatch"]}
    assert (STABLE in covered) == bool(patched)
    shown = run_cli("status", "--check", paths=paths, VLLM_PATCHES=raw)
    warned = [ln for ln in stderr.splitlines() if "names no patch" in ln]
    if patched:
        assert warned == [] and shown.stderr == ""
        assert shown.returncode == 0
        assert "Auto-patching: on" in shown.stdout and "applies all" not in shown.stdout
    else:
        assert len(warned) == 1 and warned[0].startswith("WARNING")
        assert shown.returncode == 1
        assert shown.stderr.startswith(f"vllm-patches: warning: VLLM_PATCHES={raw!r} names no")
        assert f"Auto-patching: off (VLLM_PATCHES={raw!r} names no patch" in shown.stdout
        assert data["autopatch"]["selection"] == [] and data["autopatch"]["selection_problem"]


@pytest.fixture(scope="module")
def import_then_register(release, plugin_site, synthetic):
    """A process that vLLM did not start: it imports the model module, then registers."""
    return run_steps(release(AFFECTED), plugin_site, "import", "check", "register", "check",
                     **synthetic.env)


def test_without_plugin_or_hook_nothing_is_patched(import_then_register):
    result, _ = import_then_register
    assert result["checks"][0] == []


def test_register_on_an_imported_module_patches_it_at_once_and_only_once(import_then_register):
    result, stderr = import_then_register
    assert result["checks"][1] == [STABLE]
    assert len(applied_lines(stderr, STABLE)) == 1


def test_a_worker_started_with_spawn_is_patched_through_the_plugin(release, plugin_site, tmp_path):
    report = tmp_path / "report.jsonl"
    proc = run_python([str(SCENARIOS / "spawn_worker.py")], plugin_site, release(AFFECTED),
                      VLLM_PATCHES_REPORT=str(report))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["parent_imported_vllm"] is False
    assert result["worker"]["patched"] == [STABLE] and result["worker"]["exitcode"] == 0
    assert result["worker"]["ppid"] == result["parent_pid"]
    (line,) = [e for e in report_lines(report) if e["patch"] == STABLE]
    assert (line["pid"], line["ppid"], line["outcome"], line["via"]) == (
        result["worker"]["pid"], result["parent_pid"], "applied", "plugin")
    (armed,) = report_lines(report, "armed")  # the parent loads no plugin: no line
    assert (armed["pid"], armed["via"]) == (result["worker"]["pid"], "plugin")


@pytest.mark.parametrize("broken", ["fix", "hook"])
def test_a_patch_that_raises_in_the_hook_leaves_the_process_running_unpatched(
        release, plugin_site, broken):
    proc = run_python([str(SCENARIOS / "patch_raises.py"), broken], plugin_site, release(AFFECTED))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["imported"], result["error"], result["patched"]) == (True, None, [])
    assert "WARNING" in proc.stderr and "broken fix" in proc.stderr


def test_strict_mode_makes_a_patch_that_raises_fail_the_import(release, plugin_site):
    proc = run_python([str(SCENARIOS / "patch_raises.py"), "fix"], plugin_site,
                      release(AFFECTED), VLLM_PATCHES_STRICT="1")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported"] is False
    assert result["error"].startswith("PatchError") and "broken fix" in result["error"]


@pytest.fixture(scope="module")
def fixed_release_run(release, plugin_site, synthetic):
    """A list naming a patch that upstream has fixed in this release, and a typo."""
    return run_steps(release(AFFECTED), plugin_site, "plugins", "import", "check",
                     VLLM_PATCHES=f"{FIXED.id}, no-such-patch", **synthetic.env)


def test_a_comma_list_applies_only_the_patches_it_names(fixed_release_run):
    result, _ = fixed_release_run
    assert result["checks"] == [[]]  # STABLE applies here, but is not named


def test_an_obsolete_patch_warns_that_it_can_be_dropped(fixed_release_run):
    _, stderr = fixed_release_run
    (line,) = [ln for ln in stderr.splitlines() if "obsolete" in ln]
    assert line.startswith("WARNING")
    assert FIXED.id in line and f"since vLLM {FIXED.fixed_from}" in line
    assert "can be dropped" in line


def test_an_unknown_id_in_vllm_patches_is_warned_about(fixed_release_run):
    _, stderr = fixed_release_run
    assert any(ln.startswith("WARNING") and "no-such-patch" in ln for ln in stderr.splitlines())


# On a release that has most fixes upstream ---------------------------------------------
RECENT = "0.33.0"


def log_lines(stderr: str) -> list[str]:
    """This package's log lines, without their time stamps."""
    return [line.split("] ", 1)[1] if "] " in line else line
            for line in stderr.splitlines() if "[vllm_patches]" in line]


def test_a_default_selection_logs_one_info_line_for_the_patches_fixed_upstream(release):
    proc = run_python([str(SCENARIOS / "obsolete_lines.py")], release(RECENT))
    (line,) = [ln for ln in log_lines(proc.stderr) if "not needed" in ln]
    fixed = [p.id for p in load_catalog() if p.fixed_in(Version(RECENT))]
    assert f"{len(fixed)} patch(es) not needed on vLLM {RECENT} (fixed upstream)" in line
    assert all(i in line for i in fixed)
    assert [ln for ln in proc.stderr.splitlines() if "[vllm_patches]" in ln][0].startswith("INFO")
    assert "obsolete" not in proc.stderr and "WARNING" not in proc.stderr


def test_only_a_patch_named_in_vllm_patches_is_warned_about_and_only_once(release):
    """Named in VLLM_PATCHES and judged twice more by apply(): one warning each."""
    imported = {"vllm.sampling_params", "vllm.v1.engine.detokenizer"}  # by the scenario
    named = [p.id for p in load_catalog() if p.fixed_in(Version(RECENT))
             and {t.module for t in p.targets} <= imported][:2]
    proc = run_python([str(SCENARIOS / "obsolete_lines.py"), named[0]], release(RECENT),
                      VLLM_PATCHES=",".join(named))
    lines = log_lines(proc.stderr)
    assert len(lines) == len(set(lines)) == 2
    assert sorted(line.split()[2] for line in lines) == named  # "pid N: ID is obsolete ..."
    assert all("is obsolete" in line for line in lines)
    assert proc.stderr.count("WARNING") == 2 and "not needed" not in proc.stderr


def write_fix_into_source(tree, patch_id: str) -> None:
    """What source mode leaves in vLLM's file: each wrapped method renamed to
    ``_vllm_patches_orig_<name>``, the fix's methods appended to the class."""
    patch = get_patch(patch_id)
    fix_lines = patch.fix_source.splitlines(keepends=True)
    for target in patch.targets:
        path = tree / target.relpath
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        cls = next(n for n in ast.parse("".join(lines)).body
                   if isinstance(n, ast.ClassDef) and n.name == target.class_name)
        for node in cls.body:
            for wrap in target.wraps:
                if isinstance(node, ast.FunctionDef) and node.name == wrap.name:
                    lines[node.lineno - 1] = lines[node.lineno - 1].replace(
                        f"def {wrap.name}(", f"def {wrap.original_name}(", 1)
        nodes = patch.fix_nodes(target)
        added = ["\n"] + [
            "".join(fix_lines[min([nodes[n].lineno, *(d.lineno for d in nodes[n].decorator_list)])
                              - 1:nodes[n].end_lineno]) + "\n"
            for n in target.method_names
        ]
        lines[cls.end_lineno:cls.end_lineno] = added
        path.write_text("".join(lines), encoding="utf-8")


def test_a_fix_already_in_the_source_is_left_alone_and_reported(tree_copy, plugin_site, tmp_path):
    tree = tree_copy(AFFECTED)
    write_fix_into_source(tree, STABLE)
    target = get_patch(STABLE).targets[0]
    assert classify(get_patch(STABLE), target, (tree / target.relpath).read_text()).kind == PATCHED
    report = tmp_path / "report.jsonl"
    result, stderr = run_steps(tree, plugin_site, "plugins", "import", "check",
                               VLLM_PATCHES_REPORT=str(report))
    assert result["checks"] == [[]]  # no runtime mark: the methods are the file's own
    assert applied_lines(stderr, STABLE) == []
    (line,) = [e for e in report_lines(report) if e["patch"] == STABLE]
    assert (line["outcome"], line["mode"]) == ("applied-in-source", "source")



def test_a_patch_over_two_modules_waits_until_the_outer_one_has_finished_importing(release):
    """A patch over two modules (structured-outputs-regex-nul: sampling_params and
    backend_xgrammar, which input_processor's import pulls in) is applied once both have
    finished importing; strict mode would raise otherwise. Since that patch left
    input_processor, no target is mid-import here: a synthetic patch should take this over."""
    seen = run_scenario("midimport", release("0.27.1"), VLLM_PATCHES_STRICT="1",
                        VLLM_PATCHES="structured-outputs-regex-nul")
    assert seen == {"applied": True, "error": None}


def test_the_hook_patches_a_reloaded_module_s_function_again(release, synthetic):
    """After a reload the hook's patch is gone (vLLM's fresh function runs) and watching
    again applies it, leftovers of the first apply or not."""
    from tests.synthetic import EXTRA, FUNCTION, RELEASES

    seen = run_scenario("hook_reload", release(RELEASES[-1]), VLLM_PATCHES=FUNCTION.id,
                        **synthetic.env)
    plain = 8  # vLLM's round_up(5, 4)
    assert seen["hooked"] == [True, True, plain + EXTRA]
    assert seen["reloaded"] == [False, False, plain]
    assert seen["watched"] == [True, True, plain + EXTRA]
