"""``vllm-patches catalog check``: the CI of a patch catalogue, on the real releases.

The built-in catalogue passes it (this is what the project's CI runs). Catalogues written
here by hand, as a user writes one, pass when their recorded data is right, and fail with
one clear row (PATCH, STEP, RELEASE, RESULT, WHY) when a recorded fingerprint is wrong, when
a fix cannot be taken out again byte for byte, or when two patches wrap one function
without saying how they compose. The fixes written here are our own few lines; the
fingerprints they record are computed from the real release files.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from packaging.version import Version

from tests.catalogues import MATH, print_of, write_patch
from tests.helpers import run_cli
from tests.matrix import catalog_check_ends
from vllm_patches.authoring.check import Mark, Step
from vllm_patches.core.catalog import catalog_dir, load_catalog
from vllm_patches.core.overlaps import disjoint
from vllm_patches.core.versions import VersionRange
from vllm_patches.verify.checks import check_device, check_file

ROUND_UP_FIX = '''"""Test fix: vLLM's round_up, another way."""


def round_up(x: int, y: int) -> int:
    """x rounded up to a multiple of y."""
    return -(-x // y) * y
'''

ROUND_DOWN_FIX = '''"""Test fix: vLLM's round_down, another way."""


def round_down(x: int, y: int) -> int:
    return x - x % y
'''

# A comment line equal to the block's end marker: source mode could not take this fix out
# of the file again byte for byte.
CDIV_FIX = '''"""Test fix: vLLM's cdiv, another way."""


def cdiv(a: int, b: int) -> int:
    # <<< vllm-patches ceil-div
    return (a + b - 1) // b
'''

STOP_FIX = '''"""Test fix: a second fix of check_stop_strings, beside the built-in one."""


def check_stop_strings(output_text, new_char_count, stop, include_in_output):
    return None
'''


def check_json(*args: str) -> tuple[int, dict, str]:
    proc = run_cli("catalog", "check", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def rows(data: dict, patch: str, step: Step | None = None) -> list[dict]:
    return [r for r in data["rows"]
            if r["patch"] == patch and (step is None or r["step"] == str(step))]


def failed(data: dict) -> list[tuple[str, str, str]]:
    return [(r["patch"], r["step"], r["release"]) for r in data["rows"]
            if r["result"] == str(Mark.FAIL)]


# The built-in catalogue ------------------------------------------------------------------
@pytest.fixture(scope="module")
def builtin():
    """One run of ``catalog check`` over the built-in catalogue, as the project's CI runs it."""
    # Every patch: source mode on each affected release, and a few vLLM imports each on the
    # first and last: minutes on two cores.
    proc = run_cli("catalog", "check", "--json", timeout=2400)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_the_builtin_catalogue_passes(builtin):
    code, data, stderr = builtin
    assert failed(data) == [] and data["ok"] is True and code == 0, stderr
    assert data["catalogues"] == [str(catalog_dir())]
    assert "catalog check:" in stderr  # progress, on stderr


@pytest.mark.parametrize("patch", load_catalog(), ids=lambda p: p.id)
def test_each_builtin_patch_applies_and_reverts_on_every_affected_release(builtin, patch):
    _, data, _ = builtin
    [metadata] = rows(data, patch.id, Step.METADATA)
    assert metadata["result"] == "ok"
    source = rows(data, patch.id, Step.SOURCE)
    releases = [r["release"] for r in source]
    assert releases and all(patch.affects(Version(r)) for r in releases)
    assert {r["result"] for r in source} == {"ok"}
    assert all("reverted byte for byte" in r["why"] for r in source)
    # The runtime runs on the first and the last of them; a release whose modules need what
    # this machine lacks (vLLM 0.29+ import xgrammar) is "not run", never a failure.
    runtime = rows(data, patch.id, Step.RUNTIME)
    assert [r["release"] for r in runtime] == sorted({releases[0], releases[-1]}, key=Version)
    for row in runtime:
        if row["result"] == "not run":
            assert "cannot be imported on this machine" in row["why"]
        else:
            assert row["result"] == "ok", row
    if importlib.util.find_spec("xgrammar") is None and releases[-1] == "0.33.0":
        assert runtime[-1]["result"] == "not run" and "xgrammar" in runtime[-1]["why"]


@pytest.mark.parametrize("patch", [p for p in load_catalog()
                                   if check_file(p) and check_device(check_file(p)) == "cpu"],
                         ids=lambda p: p.id)
def test_each_builtin_check_py_passes_on_the_first_and_last_affected_release(builtin, patch):
    _, data, _ = builtin
    checks = rows(data, patch.id, Step.CHECK)
    assert len(checks) == len({r["release"] for r in rows(data, patch.id, Step.RUNTIME)})
    assert all(r["result"] == "ok" and r["why"].startswith("PASS") for r in checks), checks
    # The check matrix (tests/matrix.py) leaves the shapes of these releases to this run.
    ends = catalog_check_ends()
    if patch.id in ends:
        assert {r["release"] for r in checks} == ends[patch.id]


@pytest.mark.parametrize("patch", [p for p in load_catalog()
                                   if check_file(p) and check_device(check_file(p)) == "cuda"],
                         ids=lambda p: p.id)
def test_each_builtin_gpu_check_is_not_run_without_a_gpu_never_passed(builtin, patch):
    if cuda_here():
        pytest.skip("this machine has a CUDA GPU")
    _, data, _ = builtin
    checks = rows(data, patch.id, Step.CHECK)
    # Never passed: "not run" on every release, for want of a GPU (or, where the release's
    # module cannot be imported on this machine at all, for that reason).
    assert checks and all(r["result"] == "not run" for r in checks)
    assert all("no GPU" in r["why"] or "cannot be imported" in r["why"] for r in checks)
    assert any("no GPU" in r["why"] for r in checks)


def cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("patch", load_catalog(), ids=lambda p: p.id)
def test_a_builtin_patch_without_check_py_or_seen_data_is_a_warning_not_a_failure(builtin,
                                                                                  patch):
    _, data, _ = builtin
    if check_file(patch) is None:
        [row] = rows(data, patch.id, Step.CHECK)
        assert row["result"] == "warning" and row["why"].startswith("no check.py")
    if not any(w.seen for t in patch.targets for w in t.wraps):
        [row] = rows(data, patch.id, Step.FINGERPRINTS)
        assert row["result"] == "warning" and "no releases recorded" in row["why"]


def test_a_patch_without_check_py_or_seen_data_is_a_warning_not_a_failure(tmp_path):
    write_patch(tmp_path, "up-unchecked", name="round_up", fix=ROUND_UP_FIX,
                pre_fix=["0000000000000000"])
    code, data, _ = check_json(str(tmp_path), "--releases-from-seen")
    assert code == 0 and failed(data) == []
    [row] = rows(data, "up-unchecked", Step.CHECK)
    assert row["result"] == "warning" and row["why"].startswith("no check.py")
    [row] = rows(data, "up-unchecked", Step.FINGERPRINTS)
    assert row["result"] == "warning"
    assert "no releases recorded" in row["why"]
    assert "run vllm-patches catalog fingerprint" in row["why"]


def test_the_gemma4_pair_wraps_one_function_and_says_how_they_compose(builtin):
    """Both wrap Gemma4MTP.load_weights: they share one fix over disjoint ranges."""
    _, data, _ = builtin
    for patch_id in ("gemma4-mtp-stable-lm-head", "gemma4-mtp-lm-head-reload"):
        [row] = rows(data, patch_id, Step.OVERLAP)
        assert row["result"] == "ok" and "share one fix" in row["why"]
        assert "Gemma4MTP.load_weights" in row["why"]


# Catalogues written by hand --------------------------------------------------------------
@pytest.fixture(scope="module")
def user_catalogue(tmp_path_factory):
    """Three patches, each wrapping its own function of vllm.utils.math_utils, with seen
    data: ``round-up`` all right, ``round-down`` with one recorded fingerprint wrong, and
    ``ceil-div`` whose fix could not be taken out of the file again."""
    root = tmp_path_factory.mktemp("catalogue")
    up = print_of("0.26.0", MATH, "round_up")
    assert up == print_of("0.27.0", MATH, "round_up")
    write_patch(root, "round-up", name="round_up", fix=ROUND_UP_FIX, pre_fix=[up],
                seen={up: ["0.26.0", "0.27.0"]})
    down = print_of("0.26.0", MATH, "round_down")
    write_patch(root, "round-down", name="round_down", fix=ROUND_DOWN_FIX, pre_fix=[down],
                fixed=["0123456789abcdef"],  # recorded for 0.27.0: not what 0.27.0 has
                seen={down: ["0.26.0"], "0123456789abcdef": ["0.27.0"]})
    cdiv = print_of("0.26.0", MATH, "cdiv")
    write_patch(root, "ceil-div", name="cdiv", fix=CDIV_FIX, pre_fix=[cdiv],
                seen={cdiv: ["0.26.0"]})
    return root, check_json(str(root))


def test_a_hand_written_catalogue_with_right_seen_data_passes_every_step(user_catalogue):
    _, (_, data, _) = user_catalogue
    mine = rows(data, "round-up")
    assert not [r for r in mine if r["result"] == "FAIL"]
    assert [(r["step"], r["release"]) for r in mine if r["result"] == "ok"] == [
        ("metadata", "-"), ("fingerprints", "0.26.0"), ("fingerprints", "0.27.0"),
        ("source", "0.26.0"), ("runtime", "0.26.0"), ("overlap", "-")]
    [warning, not_run] = [r for r in mine if r["result"] != "ok"]
    assert warning["step"] == "check.py" and warning["result"] == "warning"
    # it says there is no upstream test (tests/catalogues.py writes none = ...): once
    assert (not_run["step"], not_run["release"], not_run["result"]) == (
        "upstream tests", "-", "not run") and "upstream wrote no test" in not_run["why"]


def test_a_wrong_recorded_fingerprint_fails_with_its_release(user_catalogue):
    _, (code, data, _) = user_catalogue
    assert code == 1 and data["ok"] is False
    assert [f for f in failed(data) if f[0] == "round-down"] == [
        ("round-down", "fingerprints", "0.27.0")]
    [row] = [r for r in rows(data, "round-down", Step.FINGERPRINTS) if r["result"] == "FAIL"]
    assert "vllm.utils.math_utils.round_down is" in row["why"]
    assert "in vLLM 0.27.0, seen records 0123456789abcdef" in row["why"]


def test_a_fix_that_cannot_be_reverted_byte_for_byte_fails_in_source_mode(user_catalogue):
    _, (_, data, _) = user_catalogue
    assert [f for f in failed(data) if f[0] == "ceil-div"] == [
        ("ceil-div", "source", "0.26.0")]
    [row] = [r for r in rows(data, "ceil-div", Step.SOURCE)]
    assert row["why"].startswith("apply: ") and "byte for byte" in row["why"]


def test_one_patch_folder_is_checked_alone_on_the_releases_it_records(user_catalogue):
    root, _ = user_catalogue
    code, data, stderr = check_json(str(root / "round-up"), "--releases-from-seen")
    assert code == 0 and data["patches"] == ["round-up"], stderr
    assert "package index" not in json.dumps(data)


# Overlaps and metadata (--releases-from-seen without seen data: no release is read) -------
def test_a_second_fix_of_a_builtin_function_must_say_how_they_compose(tmp_path):
    write_patch(tmp_path, "stop-first-listed", module="vllm.v1.engine.detokenizer",
                name="check_stop_strings", fix=STOP_FIX, pre_fix=["0000000000000000"])
    code, data, _ = check_json(str(tmp_path), "--releases-from-seen")
    assert code == 1
    assert failed(data) == [("stop-first-listed", "overlap", "-")]
    [row] = rows(data, "stop-first-listed", Step.OVERLAP)
    assert "check_stop_strings as stop-string-earliest-match" in row["why"]
    [warning] = rows(data, "stop-first-listed", Step.FINGERPRINTS)
    assert warning["result"] == "warning" and "no releases recorded" in warning["why"]


def test_the_human_table_lists_what_failed_first_then_the_warnings(tmp_path):
    write_patch(tmp_path, "stop-first-listed", module="vllm.v1.engine.detokenizer",
                name="check_stop_strings", fix=STOP_FIX, pre_fix=["0000000000000000"])
    write_patch(tmp_path, "up-ok", name="round_up", fix=ROUND_UP_FIX,
                pre_fix=["0000000000000000"])
    proc = run_cli("catalog", "check", str(tmp_path), "--releases-from-seen")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"Checked 2 patch(es) of {tmp_path}: 3 ok, 1 failed, 4 warnings, "
                        "2 not run")
    assert ("  up-ok: metadata 1 ok; fingerprints 1 warning; check.py 1 warning; "
            "upstream tests 1 not run; overlap 1 ok") in lines
    at = lines.index("What failed, then the warnings and steps not run:")
    assert lines[at + 1].split() == ["PATCH", "STEP", "RELEASE", "RESULT", "WHY"]
    assert [line.split()[:4] for line in lines[at + 2:]] == [
        ["stop-first-listed", "overlap", "-", "FAIL"],
        ["stop-first-listed", "fingerprints", "-", "warning"],
        ["stop-first-listed", "check.py", "-", "warning"],
        ["stop-first-listed", "upstream", "tests", "-"],
        ["up-ok", "fingerprints", "-", "warning"],
        ["up-ok", "check.py", "-", "warning"],
        ["up-ok", "upstream", "tests", "-"]]


@pytest.mark.parametrize("second, composed", [
    (">=0.27.0", True),             # one fix, disjoint ranges: declared
    (">=0.26.5,<0.28.0", False),    # the ranges overlap
])
def test_two_patches_sharing_one_fix_compose_only_over_disjoint_ranges(tmp_path, second,
                                                                       composed):
    write_patch(tmp_path, "up-a", name="round_up", fix=ROUND_UP_FIX,
                pre_fix=["0000000000000000"])
    write_patch(tmp_path, "up-b", name="round_up", fix="",
                pre_fix=["1111111111111111"], affected=second, fix_from="up-a")
    code, data, _ = check_json(str(tmp_path), "--releases-from-seen")
    results = {r["patch"]: r["result"] for r in data["rows"] if r["step"] == "overlap"}
    assert results == ({"up-a": "ok", "up-b": "ok"} if composed
                       else {"up-a": "FAIL", "up-b": "FAIL"})
    assert code == (0 if composed else 1)


@pytest.mark.parametrize("a, b, apart", [
    (">=0.21.0,<0.23.0", ">=0.23.0", True),
    (">=0.21.0,<=0.23.0", ">=0.23.0", False),
    ("<0.20", ">0.20", True),
    ("==0.22.1", ">=0.22.0,<0.23.0", False),
    ("==0.22.1", ">=0.23.0", True),
    (">=0.17.0", ">=0.30.0", False),
])
def test_disjoint_ranges(a, b, apart):
    assert disjoint(VersionRange(a), VersionRange(b)) is apart
    assert disjoint(VersionRange(b), VersionRange(a)) is apart


def test_a_bad_patch_toml_fails_its_metadata_and_the_rest_is_still_checked(tmp_path):
    write_patch(tmp_path, "up-ok", name="round_up", fix=ROUND_UP_FIX,
                pre_fix=["0000000000000000"])
    bad = write_patch(tmp_path, "up-bad", name="round_up", fix=ROUND_UP_FIX,
                      pre_fix=["0000000000000000"])
    toml = bad / "patch.toml"
    toml.write_text(toml.read_text().replace('affected = ">=0.26.0,<0.27.0"',
                                             'affected = "0.26 or so"'))
    code, data, _ = check_json(str(tmp_path), "--releases-from-seen")
    assert code == 1 and failed(data) == [("up-bad", "metadata", "-")]
    [row] = rows(data, "up-bad")
    assert "affected" in row["why"] and "0.26 or so" in row["why"]
    assert rows(data, "up-ok", Step.METADATA)[0]["result"] == "ok"


def test_an_id_that_another_catalogue_defines_fails(tmp_path):
    # any patch of the built-in catalogue that holds its own fix (copied alone, it loads)
    builtin_id = next(p.id for p in load_catalog() if p.fix_path.parent == p.folder)
    shutil.copytree(catalog_dir() / builtin_id, tmp_path / builtin_id)
    code, data, _ = check_json(str(tmp_path), "--releases-from-seen")
    assert code == 1 and failed(data) == [(builtin_id, "metadata", "-")]
    assert "ids must be unique across catalogues" in data["rows"][0]["why"]


@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "missing", "is not a folder"),
    (lambda tmp: tmp, "holds no patch folder"),
])
def test_a_folder_that_is_no_catalogue_is_one_sentence_and_exit_2(tmp_path, make, words):
    proc = run_cli("catalog", "check", str(make(tmp_path)))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("vllm-patches: ")
    assert words in proc.stderr and "Traceback" not in proc.stderr
