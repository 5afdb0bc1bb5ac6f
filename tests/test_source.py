"""Source mode on the real files of vLLM releases: apply, revert, diff through the CLI.

Every tree here is a copy of a release's real files (``tree_copy``), changed
by the tests the way forks and pip change it; nothing of vLLM is copied into
this repository. The patches are the synthetic ones of ``tests.synthetic.solo()``, in
which ``METHOD`` is the one patch of its module.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import os
import py_compile
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import filebytes, forks
from tests.helpers import REPO, cli_runner, python_env, run_cli, run_python
from tests.synthetic import EARLIER, EXTRA, FIRST, FIXED, LAST, METHOD, RELEASES, solo
from vllm_patches.cli import main as cli_module
from vllm_patches.core.releases import release_tree
from vllm_patches.core.sourcefile import decode_source, split_lines
from vllm_patches.source import plan as source  # noqa: F401  (imported before seteuid)
from vllm_patches.source.edit import patch_text
from vllm_patches.source.record import STATE_DIR, load, sha256_of
from vllm_patches.source.transaction import FAULT_ENV, FAULT_EXIT, JOURNAL, steps

SPEC = METHOD
ID = SPEC.id
MODULE = SPEC.relpath
VERSION = LAST  # the built-in catalogue has no fix of MODULE for it
pytestmark = pytest.mark.usefixtures("solo_env")


# Helpers --------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {str(p.relative_to(root)): sha256_of(p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def small_tree(tmp_path: Path, version: str = VERSION, specs=(SPEC,)) -> Path:
    """Just what source mode reads: vllm/__init__.py, the modules of ``specs``, the dist-info."""
    src = release_tree(version)
    dest = tmp_path / f"small-{version}"
    for rel in ("vllm/__init__.py", *(spec.relpath for spec in specs)):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)
    for info in src.glob("vllm-*.dist-info"):
        shutil.copytree(info, dest / info.name)
    return dest


def the_patch():
    return solo().patch(SPEC)


def patched_bytes(original: bytes) -> bytes:
    bom = codecs.BOM_UTF8 if original.startswith(codecs.BOM_UTF8) else b""
    text = original[len(bom):].decode("utf-8")
    patch = the_patch()
    return bom + patch_text(patch, patch.targets[0], text).encode("utf-8")


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return run_cli(*args, **env)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single sentence a bad input must give: on stderr, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vllm-patches: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


# Apply and revert on the releases ---------------------------------------------
PROBE = f"""
import json
import vllm_patches
from vllm_patches.runtime import patcher
from {SPEC.module} import {SPEC.class_name} as cls
print(json.dumps({{"file": __import__("{SPEC.module}", fromlist=["x"]).__file__,
                  "answer": cls().{SPEC.name}(), "marked": patcher.is_marked(cls.{SPEC.name}),
                  "hook": vllm_patches.apply(["{ID}"])[0].outcome,
                  "marked_after_hook": patcher.is_marked(cls.{SPEC.name}),
                  "runtime_applied": patcher.is_applied("{ID}")}}))
"""


@pytest.mark.parametrize("version", RELEASES)
def test_apply_then_revert_gives_every_original_byte_back(tree_copy, version):
    tree = tree_copy(version)
    before = snapshot(tree)
    original = (tree / MODULE).read_bytes()

    applied = cli("apply", ID, "--target", str(tree))
    assert applied.returncode == 0, applied.stderr
    assert f"{ID} applied to {MODULE}" in applied.stdout
    assert (tree / MODULE).read_bytes() == patched_bytes(original)
    entry = load(tree).get(ID)
    assert entry.files[MODULE].before == sha256_of(original)
    assert entry.files[MODULE].after == sha256_of((tree / MODULE).read_bytes())
    assert entry.vllm_version == version and not entry.forced

    # The patched tree runs the fix with nothing patched at run time; the runtime hook
    # finds the fix in the file and leaves the class alone.
    seen = json.loads(run_python(["-c", PROBE], tree).stdout.strip().splitlines()[-1])
    assert seen["file"] == str(tree / MODULE)
    assert seen["answer"] == EXTRA and not seen["marked"]  # the unpatched count is 0
    assert seen["hook"] == "applied-in-source"
    assert not seen["marked_after_hook"] and not seen["runtime_applied"]

    reverted = cli("revert", "--target", str(tree))
    assert reverted.returncode == 0, reverted.stderr
    assert "original bytes are back" in reverted.stdout
    assert snapshot(tree) == before  # nothing left: not even .vllm-patches/


def test_second_apply_is_a_no_op_that_says_so(tmp_path):
    tree = small_tree(tmp_path)
    assert cli("apply", "--target", str(tree)).returncode == 0
    before = {p: (tree / p).stat().st_mtime_ns for p in (MODULE, f"{STATE_DIR}/record.json")}
    again = cli("apply", ID, "--target", str(tree))
    assert again.returncode == 0
    assert f"{ID} is already applied in source; nothing to do" in again.stdout
    assert {p: (tree / p).stat().st_mtime_ns for p in before} == before


def test_apply_keeps_the_file_mode_and_drops_its_stale_bytecode(tmp_path):
    tree = small_tree(tmp_path)
    module = tree / MODULE
    os.chmod(module, 0o600)
    unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH  # never stale by itself
    pyc = Path(py_compile.compile(str(module), invalidation_mode=unchecked))
    assert cli("apply", "--target", str(tree)).returncode == 0
    assert stat.S_IMODE(module.stat().st_mode) == 0o600
    assert not pyc.exists()
    assert cli("revert", "--target", str(tree)).returncode == 0
    assert stat.S_IMODE(module.stat().st_mode) == 0o600


def test_json_output_lists_each_patch_outcome(tmp_path):
    tree = small_tree(tmp_path)
    out = json.loads(cli("apply", "--target", str(tree), "--json").stdout)
    assert out["vllm"]["version"] == VERSION
    assert out["results"] == [{"id": ID, "outcome": "applied", "files": [MODULE],
                               "message": f"{ID} applied to {MODULE}"}]


# Diffs -------------------------------------------------------------------------
@pytest.mark.parametrize("drift", ["none", "crlf", "no_final_newline"])
@pytest.mark.parametrize("command", [("diff",), ("apply", "--dry-run")],
                         ids=["diff", "apply --dry-run (deprecated)"])
def test_the_diff_goes_through_git_apply_and_writes_nothing(tmp_path, drift, command):
    tree = small_tree(tmp_path)
    if drift != "none":
        text = (tree / MODULE).read_bytes().decode()
        (tree / MODULE).write_bytes(getattr(forks, drift)(text).encode())
    original = (tree / MODULE).read_bytes()
    before = snapshot(tree)
    proc = subprocess.run(  # bytes: the diff of a CRLF file holds CRs
        [sys.executable, "-m", "vllm_patches", *command, "--target", str(tree)],
        env=python_env(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    notices = [line for line in proc.stderr.decode().splitlines() if "deprecated" in line]
    assert notices == ([] if command == ("diff",) else [
        "vllm-patches: warning: apply --dry-run is deprecated and goes in the next release; "
        "use vllm-patches diff (the same diff, --json too)."])
    assert f"{ID} would be applied to {MODULE}".encode() in proc.stderr
    assert snapshot(tree) == before
    patch_file = tmp_path / "fix.patch"
    patch_file.write_bytes(proc.stdout)
    check = subprocess.run(["git", "apply", "--check", "-p1", str(patch_file)], cwd=tree,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", "-p1", str(patch_file)], cwd=tree, check=True)
    assert (tree / MODULE).read_bytes() == patched_bytes(original)


@pytest.mark.parametrize("version", RELEASES)
def test_diff_of_a_release_needs_no_vllm_and_leaves_the_cache_alone(tmp_path, version):
    cached = release_tree(version)
    before = snapshot(cached)
    out = tmp_path / "fix.patch"
    proc = cli("diff", ID, "--release", version, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith(f"diff --git a/{MODULE} b/{MODULE}\n")
    assert f"+    # >>> vllm-patches {ID} " in text
    assert snapshot(cached) == before


def test_diff_json_holds_the_results_and_the_same_diff(tmp_path):
    tree = small_tree(tmp_path)
    plain = cli("diff", "--target", str(tree))
    data = json.loads(cli("diff", "--target", str(tree), "--json").stdout)
    assert plain.stdout.startswith("diff --git ") and data["diff"] == plain.stdout
    assert ID in {r["id"] for r in data["results"]}


def test_export_of_a_release_is_the_mbox_for_git_am():
    proc = cli("export", ID, "--release", VERSION)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("From 0000000000000000000000000000000000000000 ")
    assert f"diff --git a/{MODULE} b/{MODULE}\n" in proc.stdout


def test_apply_with_release_is_refused_and_points_to_diff():
    proc = cli("apply", "--release", VERSION)
    assert proc.returncode == 2
    assert "use it with diff or export" in one_error_line(proc)


def git(tree: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=tree, env=env, check=True, capture_output=True,
                          text=True).stdout


def fork_checkout(tmp_path: Path, crlf: bool = False) -> Path:
    tree = small_tree(tmp_path)
    if crlf:
        (tree / MODULE).write_bytes(forks.crlf((tree / MODULE).read_bytes().decode()).encode())
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "fork")
    return tree


@pytest.mark.parametrize("command", [("export", ID), ("diff", ID, "--mail")],
                         ids=["export", "diff --mail (deprecated)"])
@pytest.mark.parametrize("line_ends", ["LF", "CRLF"])
def test_mail_goes_through_git_am_on_a_fork_checkout(tmp_path, line_ends, command):
    tree = fork_checkout(tmp_path, crlf=line_ends == "CRLF")
    original = (tree / MODULE).read_bytes()
    mbox = tmp_path / "fix.mbox"
    written = cli(*command, "--target", str(tree), "-o", str(mbox))
    assert written.returncode == 0, written.stderr
    assert ("diff --mail is deprecated" in written.stderr) == (command[0] == "diff")
    git(tree, "am", *(["--keep-cr"] if line_ends == "CRLF" else []), str(mbox))
    assert git(tree, "log", "-1", "--format=%s").strip() == the_patch().title
    assert (tree / MODULE).read_bytes() == patched_bytes(original)
    status = json.loads(cli("status", ID, "--target", str(tree), "--json").stdout)
    assert status["patches"][0]["state"] == "applied"


def test_fork_checkout_is_clean_again_after_revert(tmp_path):
    tree = fork_checkout(tmp_path)
    assert cli("apply", "--target", str(tree)).returncode == 0
    assert git(tree, "status", "--porcelain").split() == ["M", MODULE, "??", f"{STATE_DIR}/"]
    assert cli("revert", "--target", str(tree)).returncode == 0
    assert git(tree, "status", "--porcelain") == ""


# Drift: the record against the files -------------------------------------------
def status_of(tree: Path) -> dict:
    return json.loads(cli("status", ID, "--target", str(tree), "--json").stdout)["patches"][0]


def test_status_reports_source_applied_then_a_reinstall_then_an_edit(tmp_path):
    tree = small_tree(tmp_path)
    original = (tree / MODULE).read_bytes()
    assert cli("apply", "--target", str(tree)).returncode == 0
    assert (status_of(tree)["state"], status_of(tree)["mode"]) == ("applied", "source")

    (tree / MODULE).write_bytes(original)  # pip reinstall: the original file is back
    seen = status_of(tree)
    assert seen["state"] == "applicable" and "stale" in seen["reason"]
    dropped = cli("revert", "--target", str(tree))
    assert dropped.returncode == 0 and "stale record is dropped" in dropped.stdout
    assert not (tree / STATE_DIR).exists()

    assert cli("apply", "--target", str(tree)).returncode == 0
    with open(tree / MODULE, "ab") as fh:  # someone's edit, away from the fix
        fh.write(b"# local note\n")
    seen = status_of(tree)
    assert seen["state"] == "applied" and "changed since" in seen["reason"]
    refused = cli("revert", "--target", str(tree))
    assert refused.returncode == 1
    assert "changed since vllm-patches applied it" in one_error_line(refused)
    assert "--force" in refused.stderr
    forced = cli("revert", "--force", "--target", str(tree))
    assert forced.returncode == 0, forced.stderr
    assert (tree / MODULE).read_bytes() == original + b"# local note\n"


def test_a_reinstall_of_a_fixed_release_keeps_a_stale_record_visible(tmp_path):
    tree = small_tree(tmp_path, FIRST, (FIXED,))
    assert cli("apply", FIXED.id, "--target", str(tree)).returncode == 0
    shutil.copy2(release_tree(LAST) / FIXED.relpath, tree / FIXED.relpath)
    seen = json.loads(cli("status", FIXED.id, "--target", str(tree), "--vllm-version", LAST,
                          "--json").stdout)["patches"][0]
    assert seen["state"] == "fixed-upstream" and "stale" in seen["reason"]
    assert "revert" in seen["next"] and "--force" in seen["next"]


def test_revert_without_a_record_needs_force(tmp_path):
    tree = small_tree(tmp_path)
    original = (tree / MODULE).read_bytes()
    assert cli("apply", "--target", str(tree)).returncode == 0
    shutil.rmtree(tree / STATE_DIR)
    refused = cli("revert", ID, "--target", str(tree))
    assert refused.returncode == 1 and "no record" in one_error_line(refused)
    assert cli("revert", ID, "--force", "--target", str(tree)).returncode == 0
    assert (tree / MODULE).read_bytes() == original


def test_revert_of_a_patch_not_applied_says_so(tmp_path):
    tree = small_tree(tmp_path)
    proc = cli("revert", ID, "--target", str(tree))
    assert proc.returncode == 0
    assert "not applied in source here; nothing to revert" in proc.stdout
    assert not (tree / STATE_DIR).exists()


# Fork drift -------------------------------------------------------------------
DRIFTS = {
    "the target reformatted": lambda t: forks.reformat(t, SPEC.name, SPEC.class_name),
    "another method reformatted": lambda t: forks.reformat(t, "get_next_output_text",
                                                          SPEC.class_name),
    "a method added": lambda t: forks.add_method(t, SPEC.class_name),
    "CRLF": forks.crlf,
    "no final newline": forks.no_final_newline,
}


@pytest.mark.parametrize("drift", list(DRIFTS) + ["BOM"])
def test_fork_drift_outside_the_target_code_is_applied_and_reverted(tmp_path, drift):
    tree = small_tree(tmp_path)
    raw = (tree / MODULE).read_bytes()
    if drift == "BOM":
        raw = codecs.BOM_UTF8 + raw
    else:
        raw = DRIFTS[drift](raw.decode()).encode()
    (tree / MODULE).write_bytes(raw)
    applied = cli("apply", "--target", str(tree))
    assert applied.returncode == 0, applied.stderr
    assert (tree / MODULE).read_bytes() == patched_bytes(raw)
    assert status_of(tree)["state"] == "applied"
    assert cli("revert", "--target", str(tree)).returncode == 0
    assert (tree / MODULE).read_bytes() == raw


def test_a_fork_edit_inside_a_target_method_is_refused_until_forced(tmp_path):
    tree = small_tree(tmp_path)
    method = f"{SPEC.class_name}.{SPEC.name}"
    edited = forks.edit_line((tree / MODULE).read_text(), SPEC.name, SPEC.class_name).encode()
    (tree / MODULE).write_bytes(edited)
    before = snapshot(tree)

    refused = cli("apply", ID, "--target", str(tree))
    assert refused.returncode == 1
    line = one_error_line(refused)
    assert method in line and "--force" in line and "backport" in line
    assert snapshot(tree) == before

    # No ID: every patch the tree needs. A gate (a Docker build, CI) must not pass while
    # the fix is missing, so a patch held back by the fork's change exits 1, dry run too.
    for args in (("apply",), ("diff",)):
        blocked = cli(*args, "--target", str(tree))
        assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
        [line] = [x for x in blocked.stderr.splitlines() if x.startswith("vllm-patches: ")]
        assert "not applied" in line and "--force" in line and method in line
        assert snapshot(tree) == before

    forced = cli("apply", ID, "--force", "--target", str(tree))
    assert forced.returncode == 0, forced.stderr
    assert load(tree).get(ID).forced
    assert cli("revert", "--target", str(tree)).returncode == 0
    assert (tree / MODULE).read_bytes() == edited


# How the file is stored: its encoding (PEP 263), BOM and line ends, kept byte for byte ----
def stored(tmp_path: Path, variant: str) -> tuple[Path, bytes]:
    """A small tree whose target module is stored as ``variant`` (tests/filebytes.py) does."""
    tree = small_tree(tmp_path)
    make = filebytes.NOT_TEXT.get(variant)
    raw = (make((tree / MODULE).read_bytes()) if make else
           filebytes.store(variant, (tree / MODULE).read_bytes(), SPEC.class_name, SPEC.name))
    (tree / MODULE).write_bytes(raw)
    return tree, raw


def patched_as_stored(original: bytes) -> bytes:
    """What apply must write: the fix in the text, stored as the original is."""
    src, patch = decode_source(original, MODULE), the_patch()
    return src.encode(patch_text(patch, patch.targets[0], src.text))


@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_each_way_of_storing_the_file_is_applied_and_reverted_byte_for_byte(tmp_path, variant):
    tree, raw = stored(tmp_path, variant)
    before = snapshot(tree)
    applied = cli("apply", "--target", str(tree))
    assert applied.returncode == 0, applied.stderr
    assert (tree / MODULE).read_bytes() == patched_as_stored(raw)
    assert status_of(tree)["state"] == "applied"
    reverted = cli("revert", "--target", str(tree))
    assert reverted.returncode == 0, reverted.stderr
    assert snapshot(tree) == before


@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_each_way_of_storing_the_file_gets_a_diff_that_git_apply_takes(tmp_path, variant):
    tree, raw = stored(tmp_path, variant)
    proc = subprocess.run(  # bytes: the diff holds the file's own bytes
        [sys.executable, "-m", "vllm_patches", "diff", "--target", str(tree)],
        env=python_env(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    patch_file = tmp_path / "fix.patch"
    patch_file.write_bytes(proc.stdout)
    applied = subprocess.run(["git", "apply", "-p1", str(patch_file)], cwd=tree,
                             capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert (tree / MODULE).read_bytes() == patched_as_stored(raw)


@pytest.mark.parametrize("ids", [(), (ID,)], ids=["every applicable patch", "named"])
def test_a_fork_line_equal_to_our_marker_is_refused_and_nothing_written(tmp_path, ids):
    """Taking the fix out would stop at the fork's line: refused before writing, where
    apply used to succeed and leave a fix that revert and revert --force both refused."""
    tree = small_tree(tmp_path)
    text = (tree / MODULE).read_text()
    at = forks.method(text, SPEC.name, SPEC.class_name).lineno - 1
    lines = split_lines(text)
    lines[at:at] = [f"    # >>> vllm-patches {ID}\n"]
    (tree / MODULE).write_text("".join(lines))
    before = snapshot(tree)
    proc = cli("apply", *ids, "--target", str(tree))
    assert proc.returncode == 1
    assert "already holds a line equal to our marker" in one_error_line(proc)
    assert snapshot(tree) == before


VERBS = {  # each command that reads the target module, as a user types it
    "apply": ("apply",),
    "revert": ("revert",),
    "status": ("status",),
    "diff": ("diff",),
    "export": ("export", ID),
}


@pytest.mark.parametrize("verb", list(VERBS))
@pytest.mark.parametrize("variant", list(filebytes.NOT_TEXT))
def test_a_module_that_is_not_text_is_one_sentence_naming_it(tmp_path, variant, verb):
    tree, _ = stored(tmp_path, variant)
    before = snapshot(tree)
    proc = cli(*VERBS[verb], "--target", str(tree))
    assert proc.returncode == 2
    assert str(tree / MODULE) in one_error_line(proc)
    assert snapshot(tree) == before


def test_a_module_that_stops_being_text_after_apply_is_one_sentence_on_revert(tmp_path):
    tree = small_tree(tmp_path)
    assert cli("apply", "--target", str(tree)).returncode == 0
    (tree / MODULE).write_bytes(filebytes.non_utf8_comment((tree / MODULE).read_bytes()))
    before = snapshot(tree)
    for force in ((), ("--force",)):
        proc = cli("revert", *force, "--target", str(tree))
        assert proc.returncode == 2 and "is not UTF-8 text" in one_error_line(proc)
        assert snapshot(tree) == before


NOT_A_FILE = {  # what stands where the module should be, and what the sentence says
    "a folder": (Path.mkdir, "is a directory, not a Python module file"),
    "a named pipe": (os.mkfifo, "is not a regular file"),  # reading it would block for ever
}


@pytest.mark.parametrize("verb", list(VERBS))
@pytest.mark.parametrize("kind", list(NOT_A_FILE))
def test_a_module_that_is_not_a_file_is_one_sentence(tmp_path, kind, verb):
    tree = small_tree(tmp_path)
    make, says = NOT_A_FILE[kind]
    (tree / MODULE).unlink()
    make(tree / MODULE)
    before = snapshot(tree)
    proc = cli(*VERBS[verb], "--target", str(tree), timeout=60)
    assert proc.returncode == 2
    assert f"{tree / MODULE} {says}" in one_error_line(proc)
    assert snapshot(tree) == before and not (tree / STATE_DIR).exists()


@pytest.mark.parametrize("command", [("diff",), ("export", ID)], ids=["diff", "export"])
@pytest.mark.parametrize("output", ["no-such-folder/fix.patch", "a-folder", "a-file/fix.patch"])
def test_output_that_cannot_be_written_is_one_sentence(tmp_path, command, output):
    tree = small_tree(tmp_path)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("a file, not a folder\n")
    before = snapshot(tmp_path)
    proc = cli(*command, "--target", str(tree), "-o", str(tmp_path / output))
    assert proc.returncode == 2
    one_error_line(proc)
    assert snapshot(tmp_path) == before


# Bad input: one sentence, exit 2, nothing written ---------------------------------
def test_unknown_patch_id(tmp_path):
    tree = small_tree(tmp_path)
    before = snapshot(tree)
    proc = cli("apply", "no-such-patch", "--target", str(tree))
    assert proc.returncode == 2 and "Unknown patch id 'no-such-patch'" in one_error_line(proc)
    assert snapshot(tree) == before


@pytest.mark.parametrize("verb", ["apply", "revert", "diff"])
def test_target_missing_or_not_a_vllm_tree(tmp_path, verb):
    missing = cli(verb, "--target", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in one_error_line(missing)
    not_vllm = cli(verb, "--target", str(tmp_path))
    assert not_vllm.returncode == 2 and "is not a vLLM tree" in one_error_line(not_vllm)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", ["apply", "revert"])
def test_corrupt_record(tmp_path, verb):
    tree = small_tree(tmp_path)
    (tree / STATE_DIR).mkdir()
    (tree / STATE_DIR / "record.json").write_text("{half a record")
    before = snapshot(tree)
    proc = cli(verb, "--target", str(tree))
    assert proc.returncode == 2 and "is corrupt" in one_error_line(proc)
    assert snapshot(tree) == before


def test_target_file_behind_a_symlink_out_of_the_tree(tmp_path):
    tree = small_tree(tmp_path)
    models = (tree / MODULE).parent
    outside = tmp_path / "elsewhere"
    shutil.move(models, outside)
    models.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    proc = cli("apply", "--target", str(tree))
    assert proc.returncode == 2 and "leads outside the vLLM tree" in one_error_line(proc)
    assert snapshot(outside) == before and not (tree / STATE_DIR).exists()


def test_record_path_with_dotdot_out_of_the_tree(tmp_path):
    tree = small_tree(tmp_path)
    assert cli("apply", "--target", str(tree)).returncode == 0
    record = tree / STATE_DIR / "record.json"
    record.write_text(record.read_text().replace(MODULE, "vllm/../../outside.py"))
    before = snapshot(tree)
    proc = cli("revert", "--target", str(tree))
    assert proc.returncode == 2 and "leads outside the vLLM tree" in one_error_line(proc)
    assert snapshot(tree) == before


@pytest.fixture
def unprivileged():
    """Run a callable as a user that cannot write the tree (``nobody`` when we are root)."""
    def run(func):
        if os.geteuid() != 0:
            return func()
        os.setegid(65534)
        os.seteuid(65534)
        try:
            return func()
        finally:
            os.seteuid(0)
            os.setegid(0)
    return run


def test_read_only_tree_suggests_the_runtime_hook(unprivileged):
    top = Path(tempfile.mkdtemp(prefix="vllm-patches-ro-"))
    try:
        os.chmod(top, 0o755)
        tree = small_tree(top)
        if os.geteuid() != 0:  # a user of our own: make the tree read-only instead
            for path in [tree, *tree.rglob("*")]:
                os.chmod(path, 0o555 if path.is_dir() else 0o444)
        before = snapshot(tree)
        # Read-only work first, as ourselves: it imports what the command needs
        # (nobody cannot read the interpreter's folders under /root).
        assert cli_runner().invoke(cli_module.cli, ["diff", "--target", str(tree)]
                                  ).exit_code == 0
        result = unprivileged(lambda: cli_runner().invoke(
            cli_module.cli, ["apply", "--target", str(tree)]))
        assert result.exit_code == 2, result.output
        assert "Cannot write" in result.stderr and "runtime hook" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert snapshot(tree) == before
    finally:
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                os.chmod(path, 0o755)
        shutil.rmtree(top)


# A kill at each step; eight at once -----------------------------------------------
@pytest.mark.parametrize("then", ["apply", "revert"])
@pytest.mark.parametrize("step", steps(2))  # two files: the module and the record
def test_a_kill_at_any_step_of_apply_leaves_a_tree_the_next_command_completes(
        tmp_path, step, then):
    tree = small_tree(tmp_path)
    original = (tree / MODULE).read_bytes()
    killed = cli("apply", "--target", str(tree), **{FAULT_ENV: step})
    assert killed.returncode == FAULT_EXIT, killed.stderr
    assert (tree / MODULE).read_bytes() in (original, patched_bytes(original))
    assert "interrupted vllm-patches write is pending" in cli(
        "status", "--target", str(tree)).stdout

    proc = cli(then, "--target", str(tree))
    assert proc.returncode == 0, proc.stderr
    if then == "apply":
        assert (tree / MODULE).read_bytes() == patched_bytes(original)
        assert load(tree).get(ID).files[MODULE].after == sha256_of(patched_bytes(original))
    else:
        assert (tree / MODULE).read_bytes() == original
        assert not (tree / STATE_DIR).exists()
    assert not [p for p in tree.rglob("*") if p.name.endswith(".tmp") or p.name == JOURNAL]


def test_eight_applies_at_once_write_the_fix_once(tmp_path):
    tree = small_tree(tmp_path)
    original = (tree / MODULE).read_bytes()
    env = python_env()
    procs = [subprocess.Popen([sys.executable, "-m", "vllm_patches", "apply", "--target",
                               str(tree), "--json"], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        outcomes += [r["outcome"] for r in json.loads(out)["results"]]
    assert sorted(outcomes) == ["already-applied"] * 7 + ["applied"]
    assert (tree / MODULE).read_bytes() == patched_bytes(original)
    assert [e.patch_id for e in load(tree).entries] == [ID]


def test_without_target_the_installed_vllm_is_patched(tmp_path):
    """A tree on sys.path with its dist-info is what pip installs into site-packages."""
    site = small_tree(tmp_path)
    original = (site / MODULE).read_bytes()
    applied = run_cli("apply", paths=(site,))
    assert applied.returncode == 0, applied.stderr
    assert f"vLLM {VERSION} at {site}" in applied.stdout
    assert (site / MODULE).read_bytes() == patched_bytes(original)
    status = json.loads(run_cli("status", ID, "--json", paths=(site,)).stdout)
    assert (status["patches"][0]["state"], status["patches"][0]["mode"]) == ("applied", "source")
    assert run_cli("revert", paths=(site,)).returncode == 0
    assert (site / MODULE).read_bytes() == original


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_without_target_and_without_vllm_says_what_to_give():
    proc = cli("diff")
    assert proc.returncode == 2 and "--target DIR" in one_error_line(proc)


@pytest.mark.parametrize("spec,patch_id,code,outcome,says", [
    (SPEC, EARLIER, 1, "refused", "is not affected"),
    (FIXED, FIXED.id, 0, "skipped", "already has this fix"),
], ids=["not affected", "fixed upstream"])
def test_a_named_patch_that_does_not_fit_this_vllm_is_not_written(
        tmp_path, spec, patch_id, code, outcome, says):
    tree = small_tree(tmp_path, LAST, (spec,))
    before = snapshot(tree)
    proc = cli("apply", patch_id, "--target", str(tree), "--json")
    assert proc.returncode == code
    result = json.loads(proc.stdout)["results"][0]
    assert result["outcome"] == outcome and says in result["message"]
    assert snapshot(tree) == before


def test_nothing_to_do_is_said_and_nothing_written(tmp_path):
    tree = small_tree(tmp_path, specs=())
    before = snapshot(tree)
    applied = cli("apply", "--target", str(tree))
    assert applied.returncode == 0 and "no patch applies to this vLLM" in applied.stdout
    reverted = cli("revert", "--target", str(tree))
    assert reverted.returncode == 0 and "nothing to revert" in reverted.stdout
    assert snapshot(tree) == before


def test_status_warns_about_a_corrupt_record_and_goes_on(tmp_path):
    tree = small_tree(tmp_path)
    (tree / STATE_DIR).mkdir()
    (tree / STATE_DIR / "record.json").write_text("[")
    proc = cli("status", "--target", str(tree))
    assert proc.returncode == 0 and "warning" in proc.stderr and "is corrupt" in proc.stderr
    assert "applicable" in proc.stdout


def test_a_patch_sharing_the_fix_reads_as_applied_only_by_its_own_block(tmp_path):
    """EARLIER shares the fix, for earlier releases: on a patched tree it is not applied."""
    tree = small_tree(tmp_path)
    assert cli("apply", ID, "--target", str(tree)).returncode == 0
    states = {p["id"]: p["state"] for p in json.loads(
        cli("status", "--target", str(tree), "--json").stdout)["patches"]}
    assert {k: states[k] for k in (ID, EARLIER)} == {ID: "applied", EARLIER: "not-applicable"}
