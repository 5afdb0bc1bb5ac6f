"""``vllm-patches verify``: refusals, arm isolation, the verdict, the report.

The end-to-end runs use the hidden ``--device cpu`` (CUDA graphs emulated on
the CPU, where a replay that reads a freed tensor fails) with a small model, so
that the real vLLM code runs here without a GPU; tests/test_verify_gpu.py runs
the real thing on a GPU.
"""

import ast
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.files import FileLock
from vllm_patches.core.releases import cache_root
from vllm_patches.verify.gpu.defaults import LATER_IMPORT_NEEDS
from vllm_patches.verify.gpu.run import (
    CANNOT_RUN,
    CRASHED,
    FAIL,
    PASS,
    SKIPPED,
    TIMEOUT,
    UNAVAILABLE,
    Job,
    Machine,
    Options,
    choose_mode,
    decide,
    plan,
    render,
    run_jobs,
)
from vllm_patches.verify.gpu.shapes import newest_releases, pre_fix_releases, shapes

SMALL = ("--device", "cpu", "--vocab", "4096", "--hidden", "32", "--trials", "2")


def verify_cli(tree, tmp_path, *args, paths=None):
    report_path = tmp_path / "report.json"
    proc = run_cli("verify", "--target", str(tree), *args, "--json", str(report_path),
                   paths=paths or ())
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return proc, report


def assert_one_sentence(proc, fragment):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


# Refusals ----------------------------------------------------------------------------
def cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda_here(), reason="this machine has a CUDA GPU")
def test_without_a_cuda_gpu_it_says_so_and_writes_nothing(release, tmp_path):
    proc, report = verify_cli(release("0.22.1"), tmp_path)
    assert_one_sentence(proc, "No CUDA GPU is visible here")
    assert report is None


def test_a_vllm_without_gemma4_mtp_has_nothing_to_verify(release, tmp_path):
    proc, _ = verify_cli(release("0.20.2"), tmp_path)
    assert_one_sentence(proc, "vLLM 0.20.2 has no Gemma 4 MTP")


def test_a_folder_that_is_not_a_vllm_tree_is_refused(tmp_path):
    proc, _ = verify_cli(tmp_path, tmp_path)
    assert_one_sentence(proc, "is not a vLLM tree")


@pytest.mark.skipif(find_vllm() is not None, reason="vLLM is installed here")
def test_without_vllm_installed_it_says_so():
    assert_one_sentence(run_cli("verify"), "vLLM is not installed here")


def test_without_torch_it_says_so(release, tmp_path):
    broken = tmp_path / "no-torch" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('torch was left out of this env')\n")
    proc, _ = verify_cli(release("0.22.1"), tmp_path, paths=(broken.parent,))
    assert_one_sentence(proc, "PyTorch cannot be imported here")


@pytest.mark.parametrize("args, fragment", [
    (("--sizes", "1,,2"), "--sizes wants positive whole numbers"),
    (("--sizes", "0,4"), "--sizes wants positive whole numbers"),
    (("--vocab", "4000"), "--vocab must be a multiple of the 2048 centroids"),
    (("--tp", "0"), "--tp"),
    (("--trials", "0"), "--trials"),
    (("--scenario", "both"), "--scenario"),
])
def test_bad_arguments_are_refused_before_anything_runs(args, fragment, tmp_path):
    proc = run_cli("verify", *args, "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert fragment in proc.stderr
    assert not (tmp_path / "r.json").exists()


# Arm isolation --------------------------------------------------------------------------
def python_job(arm, scenario, code):
    return Job(arm, scenario, [sys.executable, "-c", code], dict(os.environ))


def test_each_arm_runs_in_its_own_process_and_a_crash_or_hang_stays_there():
    line = json.dumps({"arm": "patched", "scenario": "capture", "status": "ok", "sizes": []})
    jobs = [
        python_job("control", "capture",
                   f"import os, signal; os.kill(os.getpid(), signal.{signal.SIGSEGV.name})"),
        python_job("control", "reload", "import time; time.sleep(60)"),
        python_job("patched", "capture", f"print('noise'); print({line!r})"),
        python_job("patched", "reload", "import sys; sys.exit('boom: no result')"),
    ]
    done = []
    results = run_jobs(jobs, timeout=3, on_done=lambda r: done.append(r["arm"] + r["scenario"]))
    crashed, hung, fine, failed = results
    assert crashed["status"] == CRASHED and "SIGSEGV" in crashed["error"]
    assert hung["status"] == TIMEOUT and "3 s" in hung["error"]
    assert fine["status"] == "ok" and fine["arm"] == "patched"
    assert failed["status"] == CRASHED and "exited with code 1" in failed["error"]
    assert "boom: no result" in failed["error"]
    assert len(done) == 4


# The verdict -----------------------------------------------------------------------------
def pair(arm, scenario, status="ok", rows=((1, 2, 2),), error=None, where=None):
    return {"arm": arm, "scenario": scenario, "status": status, "error": error, "where": where,
            "sizes": [{"size": s, "path": f"graph {s}", "matched": m, "total": t, "error": None}
                      for s, m, t in rows]}


def test_pass_needs_every_patched_size_identical_and_reports_the_control():
    verdict, sentences = decide([
        pair("patched", "capture"), pair("patched", "reload"),
        pair("control", "capture", "error", (), "CUDA error: an illegal memory access", "size 1"),
        pair("control", "reload", rows=((1, 0, 2),)),
    ], Options())
    assert verdict == PASS
    assert sentences[0].startswith("PASS")
    assert "reproduced the bug (capture: crashed at size 1; reload: token ids differ" in sentences[1]


def test_one_differing_token_fails_the_patched_arm():
    verdict, sentences = decide([pair("patched", "capture", rows=((1, 2, 2), (4, 7, 8)))],
                                Options(scenarios=("capture",), control=False))
    assert verdict == FAIL
    assert "capture (token ids differ from eager at size(s) 4)" in sentences[0]


def test_a_crash_in_the_patched_arm_fails_it():
    verdict, _ = decide([pair("patched", "reload", CRASHED, (), "died of SIGSEGV")],
                        Options(scenarios=("reload",), control=False))
    assert verdict == FAIL


def test_a_patched_arm_that_cannot_start_means_verify_cannot_run():
    verdict, sentences = decide([pair("patched", "capture", "setup-error", (),
                                      "vLLM's Gemma 4 MTP modules could not be imported (x)")],
                                Options(scenarios=("capture",)))
    assert verdict == CANNOT_RUN
    assert sentences == ["The patched arm could not start (capture): "
                         "vLLM's Gemma 4 MTP modules could not be imported (x)"]


def test_a_control_that_matches_everywhere_weakens_the_pass():
    verdict, sentences = decide([pair("patched", "capture"), pair("control", "capture")],
                                Options(scenarios=("capture",)))
    assert verdict == PASS
    assert "did not reproduce the bug (capture: matched eager)" in sentences[1]
    assert "proves less" in sentences[1]


def test_a_control_that_fails_in_one_scenario_only_is_told_apart():
    _, sentences = decide([
        pair("patched", "capture"), pair("patched", "reload"), pair("control", "capture"),
        pair("control", "reload", "error", (), "boom", "size 1"),
    ], Options())
    assert "reproduced the bug in reload: crashed at size 1, not in capture: matched eager" \
        in sentences[1]


# Planning ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options, gpus, mode, words", [
    (Options(tp=2), 1, "emulated", "1 GPU(s) visible, TP=2 needs 2"),
    (Options(tp=2, emulate_tp=True), 8, "emulated", "--emulate-tp"),
    (Options(tp=4), 4, "ranks", "4 ranks (torch.multiprocessing spawn, nccl)"),
    (Options(tp=1), 8, "emulated", "TP=1 on one GPU"),
    (Options(tp=2, device="cpu"), 0, "emulated", "for tests only"),
])
def test_real_ranks_run_only_where_there_are_gpus_enough(options, gpus, mode, words):
    chosen, description = choose_mode(options, Machine("2.11.0", gpus))
    assert chosen == mode and words in description


def test_the_arms_get_the_tree_first_on_their_path_and_the_control_no_auto_patching(release):
    install = find_vllm(release("0.22.1"))
    jobs, fixed = plan(Options(target=str(install.location), vllm_version="0.22.1"), install,
                       "emulated")
    assert fixed == []
    assert [(j.arm, j.scenario) for j in jobs] == [
        ("patched", "capture"), ("patched", "reload"), ("control", "capture"), ("control", "reload")]
    for job in jobs:
        assert job.env["PYTHONPATH"].split(os.pathsep)[0] == str(install.location)
        assert job.env["VLLM_PATCHES_VLLM_VERSION"] == "0.22.1"
        assert "--kv-fraction" in job.argv and job.argv[job.argv.index("--kv-fraction") + 1] == "0.125"
    assert {j.env.get("VLLM_PATCHES") for j in jobs if j.arm == "control"} == {"none"}


def test_no_control_leaves_the_control_out(release):
    install = find_vllm(release("0.22.1"))
    jobs, fixed = plan(Options(control=False, scenarios=("reload",)), install, "emulated")
    assert [(j.arm, j.scenario) for j in jobs] == [("patched", "reload")]
    assert [(r["arm"], r["status"]) for r in fixed] == [("control", SKIPPED)]


# End to end, on the CPU -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_0221(release, tmp_path_factory):
    """The full default verification (both arms, both scenarios) of 0.22.1, made small."""
    return verify_cli(release("0.22.1"), tmp_path_factory.mktemp("v0221"), *SMALL)


def test_0221_passes_and_the_control_shows_the_bug(run_0221):
    proc, report = run_0221
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["verdict"] == PASS and report["exit_code"] == 0
    assert "The control reproduced the bug (capture: crashed at size 1; reload: crashed at size 1)" \
        in proc.stdout


def test_0221_patched_arm_is_identical_to_eager_at_every_size_and_trial(run_0221):
    _, report = run_0221
    patched = [r for r in report["results"] if r["arm"] == "patched"]
    assert [r["scenario"] for r in patched] == ["capture", "reload"]
    for result in patched:
        assert result["status"] == "ok"
        paths = {row["size"]: row["path"] for row in result["sizes"]}
        assert paths[3] == "graph 4" and paths[64] == "graph 64" and paths[65] == "eager"
        for row in result["sizes"]:
            assert row["matched"] == row["total"] == 2 * row["size"]
    # "already-applied": the plugin's import hook put the fix in as vLLM's
    # module was imported, the production path; apply() afterwards found it.
    assert gemma_outcomes(report) == {
        "gemma4-mtp-stable-lm-head": "already-applied", "gemma4-mtp-lm-head-reload": "skipped"}


def test_0221_control_replays_read_the_freed_all_gather_result(run_0221):
    _, report = run_0221
    control = [r for r in report["results"] if r["arm"] == "control"]
    assert [(r["scenario"], r["status"], r["where"]) for r in control] == [
        ("capture", "error", "size 1"), ("reload", "error", "size 1")]
    assert all("freed tensor of shape [4096, 32]" in r["error"] for r in control)


def test_0221_output_is_a_progress_line_per_pair_then_the_table(run_0221):
    proc, report = run_0221
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Verifying vLLM 0.22.1") and "4 arm process(es)" in lines[0]
    progress = sorted(ln.split()[:2] for ln in lines[1:5])
    assert progress == [["control", "capture"], ["control", "reload"],
                        ["patched", "capture"], ["patched", "reload"]]
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["ARM", "SCENARIO", "1", "2", "3", "4", "8", "16", "32", "64", "65"]
    assert table[1].split() == ["patched", "capture"] + ["100%"] * 9
    assert table[3].split() == ["control", "capture", "ERR"] + ["-"] * 8
    assert table == render(report)
    for label in ("Mode:", "GPU:", "vLLM:", "torch:", "Wall:"):
        assert any(ln.startswith(label) for ln in table)


@pytest.fixture(scope="module")
def run_0230_capture(release, tmp_path_factory):
    return verify_cli(release("0.23.0"), tmp_path_factory.mktemp("v0230"), "--scenario",
                      "capture", *SMALL)


def test_0230_already_keeps_its_gathered_weight_so_its_control_passes_capture(run_0230_capture):
    proc, report = run_0230_capture
    assert proc.returncode == 0
    assert [(r["arm"], r["status"]) for r in report["results"]] == [
        ("patched", "ok"), ("control", "ok")]
    assert "The control did not reproduce the bug (capture: matched eager)" in proc.stdout
    assert gemma_outcomes(report) == {
        "gemma4-mtp-stable-lm-head": "skipped", "gemma4-mtp-lm-head-reload": "already-applied"}


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


def test_a_source_patched_tree_runs_its_fix_and_says_why_there_is_no_control(tree_copy, tmp_path):
    tree = tree_copy("0.22.1")
    write_fix_into_source(tree, "gemma4-mtp-stable-lm-head")
    proc, report = verify_cli(tree, tmp_path, "--scenario", "reload", *SMALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    patched, control = report["results"]
    assert patched["status"] == "ok"
    assert {p["id"]: p["outcome"] for p in report["patches"]}["gemma4-mtp-stable-lm-head"] == \
        "applied-in-source"
    assert control["status"] == UNAVAILABLE
    assert "the fix is written into the source" in control["error"]
    assert "Control: the fix is written into the source" in proc.stdout


def gemma_outcomes(report: dict) -> dict:
    """The Gemma 4 MTP patches' outcomes in a verify report (the catalogue's other patches
    go in as their own modules are imported)."""
    return {p["id"]: p["outcome"] for p in report["patches"] if p["id"].startswith("gemma4-")}


# The releases that stand for each recorded shape ------------------------------------------
def fake_patch(patch_id, module, wraps):
    """A catalogue entry as far as shapes reads it: (name, pre-fix prints, seen) per wrap."""
    return SimpleNamespace(id=patch_id, targets=[SimpleNamespace(module=module, wraps=[
        SimpleNamespace(name=name, pre_fix=frozenset(pre), seen=seen)
        for name, pre, seen in wraps])])


MTP = "vllm.model_executor.models.gemma4_mtp"


def test_the_newest_release_of_each_recorded_shape_stands_for_it():
    patches = [
        fake_patch("a", MTP, [("f", {"p1"}, {"p1": ("0.9.0", "0.10.0", "0.9.1"),
                                             "u1": ("0.11.0", "0.12.0")})]),
        fake_patch("b", MTP, [("g", {"p2", "p3"}, {"p2": ("0.11.0", "0.12.0"),
                                                   "p3": ("0.13.0",)})]),
        fake_patch("other-module", "vllm.v1.engine.detokenizer", [("h", {"x"}, {"x": ("0.14.0",)})]),
    ]
    assert newest_releases(patches) == ["0.10.0", "0.12.0", "0.13.0"]  # 0.10.0 > 0.9.1
    assert pre_fix_releases("a", patches) == ["0.10.0"]  # u1 is upstream's fix, not a pre-fix shape
    assert pre_fix_releases("b", patches) == ["0.12.0", "0.13.0"]
    assert pre_fix_releases("other-module", patches) == []
    assert {s.patch for s in shapes(patches)} == {"a", "b"}


def test_the_catalogues_reload_patch_has_two_shapes_and_the_bundle_three_releases():
    reload = pre_fix_releases("gemma4-mtp-lm-head-reload")
    assert reload == ["0.28.0", "0.33.0"]
    assert newest_releases() == ["0.22.1", *reload]


# The reload scenario on each shape of the reload patch, on the CPU ------------------------
RELOAD_SHAPES = pre_fix_releases("gemma4-mtp-lm-head-reload")


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
    """verify's reload scenario, both arms, on the newest release of one shape of the
    reload patch, made small."""
    version = request.param
    paths = (later_site,) if later_site else ()
    proc, report = verify_cli(release(version), tmp_path_factory.mktemp(f"v{version}"),
                              "--scenario", "reload", *SMALL, paths=paths)
    return version, proc, report


def test_each_reload_shape_passes_patched_and_its_control_reads_the_freed_weight(run_reload):
    version, proc, report = run_reload
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["verdict"] == PASS and report["vllm"]["version"] == version
    patched, control = report["results"]
    assert (patched["arm"], patched["status"], patched["vllm"]) == ("patched", "ok", version)
    for row in patched["sizes"]:
        assert row["matched"] == row["total"] == 2 * row["size"]
    # The plugin's import hook put the reload fix in as vLLM's module was imported.
    assert gemma_outcomes(report) == {
        "gemma4-mtp-stable-lm-head": "skipped", "gemma4-mtp-lm-head-reload": "already-applied"}
    # Upstream's own fix drops its cached weight on reload: the graphs read freed memory.
    assert (control["arm"], control["status"], control["where"]) == ("control", "error", "size 1")
    assert "freed tensor of shape [4096, 32]" in control["error"]
    assert "The control reproduced the bug (reload: crashed at size 1)" in proc.stdout
