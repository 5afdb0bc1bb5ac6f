"""``vllm-patches verify``: the Gemma 4 MTP pair's own check.py end to end, and the CLI.

The end-to-end runs give the checks ``--set device=cpu`` (CUDA graphs emulated on the
CPU, where a replay that reads a freed tensor fails) and a small model, so that the real
vLLM code runs here without a GPU; tests/test_verify_gpu.py runs the real thing on a GPU.
"""

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.files import FileLock
from vllm_patches.core.releases import cache_root
from vllm_patches.verify.checks import check_file, check_parameters
from vllm_patches.verify.gpu.imports import LATER_IMPORT_NEEDS
from vllm_patches.verify.gpu.shapes import newest_releases, pre_fix_releases, shapes

STABLE, RELOAD = "gemma4-mtp-stable-lm-head", "gemma4-mtp-lm-head-reload"
SMALL = ("--set", "device=cpu", "--set", "vocab=4096", "--set", "hidden=32",
         "--set", "trials=2")


def verify_cli(tree, tmp_path, *args, paths=None):
    report_path = tmp_path / "report.json"
    proc = run_cli("verify", "--target", str(tree), *args, "-o", str(report_path),
                   paths=paths or (), timeout=900)
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return proc, report


def only(report):
    [result] = report["results"]
    return result


def cases(result, arm):
    return {c["case"]: c for c in result["arms"][arm]["data"]["cases"]}


def assert_one_sentence(proc, fragment):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


def cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


# The command line ------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragment", [
    (("--set", "nosuch=1"), "no selected check takes a parameter 'nosuch'"),
    (("--set", "trials=many"), "--set trials=many: trials wants a int like 5"),
    (("--set", "emulate_tp=maybe"), "emulate_tp wants true or false"),
    (("--set", "sizes=1,x"), "sizes wants a comma list like 1,2,3"),
    (("--set", "trials"), "--set wants NAME=VALUE"),
])
def test_bad_settings_are_refused_before_anything_runs(args, fragment, tmp_path):
    proc = run_cli("verify", STABLE, *args, "-o", str(tmp_path / "r.json"))
    assert_one_sentence(proc, fragment)
    assert not (tmp_path / "r.json").exists()


def test_json_is_a_flag_and_the_old_json_file_still_writes_with_a_notice(release, tmp_path):
    """0.20.2 has no Gemma 4 MTP: both checks are NOT-RUN at once (no process starts)."""
    tree = release("0.20.2")
    proc = run_cli("verify", STABLE, "--target", str(tree), "--json")
    assert proc.returncode == 0, proc.stderr
    assert only(json.loads(proc.stdout))["verdict"] == "NOT-RUN"
    old = run_cli("verify", "--target", str(tree), "--json", str(tmp_path / "v.json"),
                  "--scenario", "reload")
    assert old.returncode == 0, old.stderr
    assert f"--json {tmp_path / 'v.json'} is deprecated" in old.stderr
    assert "--scenario reload is deprecated and goes in the next release; use --set " \
        "scenario=reload" in old.stderr
    report = json.loads((tmp_path / "v.json").read_text())
    assert {r["patch"]: r["verdict"] for r in report["results"]}[RELOAD] == "NOT-RUN"
    assert old.stdout.startswith("vLLM 0.20.2 at")


def test_an_id_right_after_json_is_an_id(release):
    proc = run_cli("verify", "--release", "0.20.2", "--json", STABLE)
    assert proc.returncode == 0 and "deprecated" not in proc.stderr, proc.stderr
    assert only(json.loads(proc.stdout))["patch"] == STABLE


@pytest.mark.skipif(cuda_here(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_a_gpu_check_is_not_run_never_passed(release, tmp_path):
    proc, report = verify_cli(release("0.22.1"), tmp_path, STABLE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = only(report)
    assert (result["verdict"], result["reason"]) == ("NOT-RUN", "needs a CUDA GPU; none here")


def test_both_checks_take_the_same_parameters_and_only_the_scenario_differs():
    stable, reload = (check_parameters(check_file(get_patch(p))) for p in (STABLE, RELOAD))
    assert stable["vocab"] == 262144 and stable["hidden"] == 256 and stable["device"] == "cuda"
    assert (stable["scenario"], reload["scenario"]) == ("all", "reload")
    assert {**stable, "scenario": "reload"} == reload


# End to end, on the CPU -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_0221(release, tmp_path_factory):
    """The stable-lm-head check with its defaults (both arms, both scenarios), made small."""
    return verify_cli(release("0.22.1"), tmp_path_factory.mktemp("v0221"), STABLE, *SMALL)


def test_0221_passes_and_the_control_reads_the_freed_all_gather_result(run_0221):
    proc, report = run_0221
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = only(report)
    assert result["verdict"] == "PASS"
    control = cases(result, "control")
    assert [(c["status"], c["where"]) for c in control.values()] == [("error", "size 1")] * 2
    assert all("freed tensor of shape [4096, 32]" in c["error"] for c in control.values())
    assert "capture: crashed at size 1" in result["reason"]
    assert "reload: crashed at size 1" in result["reason"]


def test_0221_patched_arm_is_identical_to_eager_at_every_size_and_trial(run_0221):
    _, report = run_0221
    patched = cases(only(report), "patched")
    assert list(patched) == ["capture", "reload"]
    for result in patched.values():
        assert result["status"] == "ok" and result["mode"] == "emulated"
        # The plugin's import hook put the fix in as vLLM's module was imported.
        assert result["applied"] == {STABLE: "applied"}
        paths = {row["size"]: row["path"] for row in result["sizes"]}
        assert paths[3] == "graph 4" and paths[64] == "graph 64" and paths[65] == "eager"
        for row in result["sizes"]:
            assert row["matched"] == row["total"] == 2 * row["size"]


def test_0230_already_keeps_its_gathered_weight_so_capture_alone_proves_nothing(
        release, tmp_path):
    proc, report = verify_cli(release("0.23.0"), tmp_path, RELOAD, *SMALL,
                              "--set", "scenario=capture")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = only(report)
    assert result["verdict"] == "INCONCLUSIVE"
    assert result["reason"] == "control: the control did not show the bug here"
    assert cases(result, "control")["capture"]["status"] == "ok"


def write_fix_into_source(tree: Path, patch_id: str) -> None:
    """Source mode, done by hand: vLLM's methods renamed to _vllm_patches_orig_*, the fix's
    methods added to the class."""
    patch = get_patch(patch_id)
    fix_lines = patch.fix_source.splitlines(keepends=True)
    for target in patch.targets:
        path = tree / target.relpath
        source = path.read_text()
        cls = next(n for n in ast.parse(source).body
                   if isinstance(n, ast.ClassDef) and n.name == target.class_name)
        lines = source.splitlines(keepends=True)
        for node in cls.body:
            wrap = next((w for w in target.wraps if getattr(node, "name", None) == w.name), None)
            if wrap is not None:
                lines[node.lineno - 1] = lines[node.lineno - 1].replace(
                    f"def {wrap.name}(", f"def {wrap.original_name}(", 1)
        added = ["\n"] + [ln for node in patch.fix_nodes(target).values()
                          for ln in ["\n", *fix_lines[node.lineno - 1:node.end_lineno]]]
        lines[cls.end_lineno:cls.end_lineno] = added
        path.write_text("".join(lines))


def test_a_source_patched_tree_has_nothing_to_prove(tree_copy, tmp_path):
    tree = tree_copy("0.22.1")
    write_fix_into_source(tree, STABLE)
    proc, report = verify_cli(tree, tmp_path, STABLE, *SMALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = only(report)
    assert result["verdict"] == "NOT-RUN" and "not applicable" in result["reason"]
    assert "Running" not in proc.stderr  # no process started


# The releases that stand for each recorded shape ------------------------------------------
def fake_patch(root, patch_id, device, wraps):
    """A catalogue entry as far as shapes reads it: its check's DEVICE, and (name, pre-fix
    prints, seen) per wrap."""
    folder = root / patch_id
    folder.mkdir()
    (folder / "check.py").write_text(f'DEVICE = "{device}"\n')
    return SimpleNamespace(id=patch_id, folder=folder, targets=[SimpleNamespace(wraps=[
        SimpleNamespace(name=name, pre_fix=frozenset(pre), seen=seen)
        for name, pre, seen in wraps])])


def test_the_newest_release_of_each_recorded_shape_of_a_gpu_checked_patch_stands_for_it(
        tmp_path):
    patches = [
        fake_patch(tmp_path, "a", "cuda", [("f", {"p1"}, {"p1": ("0.9.0", "0.10.0", "0.9.1"),
                                                          "u1": ("0.11.0", "0.12.0")})]),
        fake_patch(tmp_path, "b", "cuda", [("g", {"p2", "p3"}, {"p2": ("0.11.0", "0.12.0"),
                                                                "p3": ("0.13.0",)})]),
        fake_patch(tmp_path, "cpu-checked", "cpu", [("h", {"x"}, {"x": ("0.14.0",)})]),
    ]
    assert newest_releases(patches) == ["0.10.0", "0.12.0", "0.13.0"]  # 0.10.0 > 0.9.1
    assert pre_fix_releases("a", patches) == ["0.10.0"]  # u1 is upstream's fix
    assert pre_fix_releases("b", patches) == ["0.12.0", "0.13.0"]
    assert pre_fix_releases("cpu-checked", patches) == []
    assert {s.patch for s in shapes(patches)} == {"a", "b"}


def test_the_catalogues_reload_patch_has_two_shapes_and_the_bundle_three_releases():
    reload = pre_fix_releases(RELOAD)
    assert reload == ["0.28.0", "0.33.0"]
    assert newest_releases() == ["0.22.1", *reload]


# The reload check on each shape of the reload patch, on the CPU ---------------------------
RELOAD_SHAPES = pre_fix_releases(RELOAD)


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def later_site():
    """A folder with what importing vLLM 0.28.0 and later needs and this environment lacks
    (LATER_IMPORT_NEEDS, pip install --no-deps --target), made once in the user cache;
    xgrammar is left to the harness's stand-in. Skips where the registry cannot be reached."""
    missing = sorted(n for n in LATER_IMPORT_NEEDS if not _installed(n))
    if not missing:
        return None
    dest = cache_root() / "verify-site" / f"cp{sys.version_info.major}{sys.version_info.minor}"
    stamp = " ".join(missing) + "\n"
    complete = dest / ".complete"
    if complete.is_file() and complete.read_text() == stamp:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.parent / f".{dest.name}.lock"):
        if complete.is_file() and complete.read_text() == stamp:
            return dest
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
            staging = Path(tmp) / "site"
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "--target", str(staging), *missing],
                capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                pytest.skip(f"could not install {', '.join(missing)} from the registry: {last}")
            (staging / ".complete").write_text(stamp)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
    return dest


@pytest.fixture(scope="module", params=RELOAD_SHAPES)
def run_reload(request, release, later_site, tmp_path_factory):
    """The reload check with its defaults (both arms, reload), on the newest release of one
    shape of the reload patch, made small."""
    version = request.param
    paths = (later_site,) if later_site else ()
    proc, report = verify_cli(release(version), tmp_path_factory.mktemp(f"v{version}"),
                              RELOAD, *SMALL, paths=paths)
    return version, proc, report


def test_each_reload_shape_passes_patched_and_its_control_reads_the_freed_weight(run_reload):
    version, proc, report = run_reload
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = only(report)
    assert result["verdict"] == "PASS" and report["vllm"]["version"] == version
    patched, control = cases(result, "patched"), cases(result, "control")
    assert list(patched) == list(control) == ["reload"]
    assert patched["reload"]["applied"] == {RELOAD: "applied"}  # by the plugin's import hook
    for row in patched["reload"]["sizes"]:
        assert row["matched"] == row["total"] == 2 * row["size"]
    # Upstream's own fix drops its cached weight on reload: the graphs read freed memory.
    assert (control["reload"]["status"], control["reload"]["where"]) == ("error", "size 1")
    assert "freed tensor of shape [4096, 32]" in control["reload"]["error"]


# --upstream-tests: the CLI over the engine (tests/test_upstream.py tests the engine) -------
def _regression_patch_here(version: str):
    """A built-in patch whose upstream regression test runs on this machine's CPU tree."""
    from packaging.version import Version

    from vllm_patches.core.catalog import load_catalog

    found = [p for p in load_catalog() if p.upstream_tests and p.upstream_tests.regression
             and p.affects(Version(version)) and "structured" not in p.id]
    return found[0] if found else pytest.skip("no such patch")


def test_upstream_tests_add_a_table_and_a_json_part_per_patch(release, tmp_path):
    release("0.26.0")
    patch = _regression_patch_here("0.26.0")
    out = tmp_path / "report.json"
    proc = run_cli("verify", patch.id, "--release", "0.26.0", "--upstream-tests", "-o",
                   str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "vLLM's own tests (from its sdists), control -> patched:" in proc.stdout
    [row] = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith(patch.id)
             and "PASS" in ln and "->" in ln]
    assert f"{patch.upstream_tests.release}: " in row
    assert "running vLLM's own tests against vLLM 0.26.0" in proc.stderr  # progress
    [result] = json.loads(out.read_text())["upstream_tests"]
    assert result["patch"] == patch.id and result["verdict"] == "PASS"
    regression = next(p for p in result["parts"] if p["part"] == "regression")
    control = regression["outcomes"]["control"]
    assert regression["decisive"] and all(control[t]["outcome"] == "failed"
                                          for t in regression["decisive"])
    assert {o["outcome"] for o in regression["outcomes"]["patched"].values()} == {"passed"}
