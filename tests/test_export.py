"""``vllm-patches export``: a fix as a format-patch mbox that ``git am`` and ``patch -p1`` take.

The fixes are the synthetic catalogue's (tests/synthetic.py), on real release files.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests import filebytes, forks
from tests.gitrepos import commit_all, copy_files, git, init_repo, trailers
from tests.helpers import run_cli
from tests.synthetic import FIXED, LAST, METHOD, RELEASES
from vllm_patches.core.sourcefile import decode_source
from vllm_patches.core.state import PATCHED, classify
from vllm_patches.source.edit import patch_text
from vllm_patches.source.export import DEFAULT_AUTHOR

SPEC = METHOD
PATH = SPEC.relpath
VERSION = RELEASES[0]
pytestmark = pytest.mark.usefixtures("synthetic_env")


def checkout(tmp_path, release, version=VERSION, change=None, spec=SPEC):
    """A fork checkout (a git repository) of a release's files that the patch reads."""
    repo = init_repo(tmp_path / f"fork-{version}")
    copy_files(release(version), repo, ("vllm/__init__.py", spec.relpath))
    if change:
        (repo / spec.relpath).write_text(change((repo / spec.relpath).read_text()))
    commit_all(repo, f"vLLM {version}")
    return repo


def export_to(tmp_path, repo, *extra, spec=SPEC, **env):
    mbox = tmp_path / "fix.mbox"
    proc = run_cli("export", spec.id, "--target", str(repo), "-o", str(mbox), *extra, **env)
    return proc, mbox


def fork_change(text: str) -> str:
    return forks.edit_line(text, SPEC.name, SPEC.class_name)


@pytest.mark.parametrize("version", RELEASES)
def test_git_am_turns_the_mbox_into_a_commit_with_the_fix(tmp_path, release, synthetic, version):
    repo = checkout(tmp_path, release, version)
    original = (repo / PATH).read_text()
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 0 and "wrote 1 patch" in proc.stderr
    assert git(repo, "status", "--porcelain") == ""  # export writes only the mbox

    git(repo, "am", "--keep-non-patch", str(mbox))  # keeps the [Backport] tag
    patch = synthetic.patch(SPEC)
    assert (repo / PATH).read_text() == patch_text(patch, patch.targets[0], original)
    assert classify(patch, patch.targets[0], (repo / PATH).read_text()).kind == PATCHED
    assert git(repo, "log", "-1", "--format=%s") == f"[Backport] {patch.title}"
    assert git(repo, "log", "-1", "--format=%an <%ae>") == DEFAULT_AUTHOR
    assert trailers(repo, "HEAD")["Backport-of"] == patch.upstream_pr
    assert trailers(repo, "HEAD")["Patch-id"] == patch.id


def test_the_mbox_has_format_patch_headers_and_a_diffstat_that_matches_git(tmp_path, release,
                                                                          synthetic):
    repo = checkout(tmp_path, release)
    _, mbox = export_to(tmp_path, repo, SOURCE_DATE_EPOCH="1764000000")
    text = mbox.read_text()

    assert re.match(r"From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n", text)
    assert "\nDate: Mon, 24 Nov 2025 16:00:00 +0000\n" in text
    assert f"\nSubject: [PATCH] [Backport] {synthetic.patch(SPEC).title}\n" in text
    added, removed, path = git(repo, "apply", "--numstat", str(mbox)).split("\t")
    assert path == PATH
    assert f" {PATH} | {int(added) + int(removed)} " in text
    assert f" 1 file changed, {added} insertions(+), {removed} deletion" in text


def test_the_same_inputs_give_the_same_mbox(tmp_path, release):
    repo = checkout(tmp_path, release)
    first = run_cli("export", SPEC.id, "--target", str(repo), SOURCE_DATE_EPOCH="0")
    second = run_cli("export", SPEC.id, "--target", str(repo), SOURCE_DATE_EPOCH="0")
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "\nDate: Thu, 01 Jan 1970 00:00:00 +0000\n" in first.stdout


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
def test_quilt_and_patch_p1_take_it_too(tmp_path, release, synthetic):
    repo = checkout(tmp_path, release)
    _, mbox = export_to(tmp_path, repo)
    plain = tmp_path / "plain"
    copy_files(release(VERSION), plain, ("vllm/__init__.py", PATH))
    proc = subprocess.run(["patch", "-p1", "-i", str(mbox)], cwd=plain, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    patch = synthetic.patch(SPEC)
    assert classify(patch, patch.targets[0], (plain / PATH).read_text()).kind == PATCHED


def test_a_fork_changed_target_is_refused_unless_forced(tmp_path, release):
    repo = checkout(tmp_path, release, change=fork_change)
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 1
    assert "a fork changed it" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not mbox.exists()

    forced, mbox = export_to(tmp_path, repo, "--force")
    assert forced.returncode == 0
    git(repo, "am", str(mbox))
    assert "self.fork_calls = " in (repo / PATH).read_text()  # the fork's change, kept


def test_a_tree_that_has_the_fix_gets_no_patch(tmp_path, release):
    repo = checkout(tmp_path, release, version=LAST, spec=FIXED)
    proc, mbox = export_to(tmp_path, repo, spec=FIXED)
    assert proc.returncode == 1 and "cannot be written" in proc.stderr
    assert not mbox.exists()


def test_no_vllm_tree_is_bad_input(tmp_path):
    proc = run_cli("export", SPEC.id, "--target", str(tmp_path))
    assert proc.returncode == 2 and "is not a vLLM tree" in proc.stderr


# How the file is stored, and who the author is ------------------------------------------
@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_git_am_writes_the_fix_in_the_file_s_own_bytes(tmp_path, release, synthetic, variant):
    """A BOM, a declared encoding, CR or mixed line ends: the mail's diff holds the file's
    own bytes, so git am (which keeps CRs with --keep-cr) writes exactly what apply writes."""
    repo = init_repo(tmp_path / "fork")
    copy_files(release(VERSION), repo, ("vllm/__init__.py", PATH))
    original = filebytes.store(variant, (repo / PATH).read_bytes(), SPEC.class_name, SPEC.name)
    (repo / PATH).write_bytes(original)
    commit_all(repo, f"vLLM {VERSION}")
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 0, proc.stderr
    added, removed, _ = git(repo, "apply", "--numstat", str(mbox)).split("\t")
    assert f" 1 file changed, {added} insertion" in mbox.read_bytes().decode("utf-8", "replace")
    assert f", {removed} deletion" in mbox.read_bytes().decode("utf-8", "replace")

    git(repo, "am", "--keep-cr", "--keep-non-patch", str(mbox))
    src = decode_source(original, PATH)
    patch = synthetic.patch(SPEC)
    assert (repo / PATH).read_bytes() == src.encode(patch_text(patch, patch.targets[0], src.text))


@pytest.mark.parametrize("author", [
    "Mallory <m@example.com>\nX-Injected: 1",
    "Mallory <m@example.com>\rBcc: victim@example.com",
    "Mallory\n<m@example.com>",
    "Mallory <m@example.com>\u2028Subject: hi",
    "Mallory",
    "<m@example.com>",
    "",
], ids=["LF", "CR", "LF inside", "U+2028", "no address", "no name", "empty"])
def test_an_author_that_is_not_one_name_email_line_is_refused(tmp_path, release, author):
    repo = checkout(tmp_path, release)
    proc, mbox = export_to(tmp_path, repo, "--author", author)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not one 'Name <email>' line" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not mbox.exists()


def test_a_one_line_author_becomes_the_commit_author(tmp_path, release):
    repo = checkout(tmp_path, release)
    proc, mbox = export_to(tmp_path, repo, "--author", "Jane Doe <jane@example.com>")
    assert proc.returncode == 0, proc.stderr
    git(repo, "am", str(mbox))
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Jane Doe <jane@example.com>"
