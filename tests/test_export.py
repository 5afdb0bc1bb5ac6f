"""``vllm-patches export``: a fix as a format-patch mbox that ``git am`` and ``patch -p1`` take."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests import filebytes
from tests.gitrepos import (FORK_RETURN, MTP, commit_all, copy_files, fork_change, git, init_repo,
                            trailers)
from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch
from vllm_patches.source.edit import patch_text
from vllm_patches.source.export import DEFAULT_AUTHOR
from vllm_patches.core.sourcefile import decode_source
from vllm_patches.core.state import PATCHED, classify

STABLE = "gemma4-mtp-stable-lm-head"


def checkout(tmp_path, release, version="0.22.1", change=None):
    """A fork checkout (a git repository) of a release's patched files."""
    repo = init_repo(tmp_path / f"fork-{version}")
    copy_files(release(version), repo)
    if change:
        (repo / MTP).write_text(change((repo / MTP).read_text()))
    commit_all(repo, f"vLLM {version}")
    return repo


def export_to(tmp_path, repo, *extra, **env):
    mbox = tmp_path / "fix.mbox"
    proc = run_cli("export", STABLE, "--target", str(repo), "-o", str(mbox), *extra, **env)
    return proc, mbox


def test_git_am_turns_the_mbox_into_a_commit_with_the_fix(tmp_path, release):
    repo = checkout(tmp_path, release)
    original = (repo / MTP).read_text()
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 0 and "wrote 1 patch" in proc.stderr
    assert git(repo, "status", "--porcelain") == ""  # export writes only the mbox

    git(repo, "am", "--keep-non-patch", str(mbox))  # keeps the [Backport] tag
    patch = get_patch(STABLE)
    assert (repo / MTP).read_text() == patch_text(patch, patch.targets[0], original)
    assert classify(patch, patch.targets[0], (repo / MTP).read_text()).kind == PATCHED
    assert git(repo, "log", "-1", "--format=%s") == f"[Backport] {patch.title}"
    assert git(repo, "log", "-1", "--format=%an <%ae>") == DEFAULT_AUTHOR
    assert trailers(repo, "HEAD")["Backport-of"] == "vllm-project/vllm#43909"
    assert trailers(repo, "HEAD")["Patch-id"] == STABLE


def test_the_mbox_has_format_patch_headers_and_a_diffstat_that_matches_git(tmp_path, release):
    repo = checkout(tmp_path, release)
    _, mbox = export_to(tmp_path, repo, SOURCE_DATE_EPOCH="1764000000")
    text = mbox.read_text()

    assert re.match(r"From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n", text)
    assert "\nDate: Mon, 24 Nov 2025 16:00:00 +0000\n" in text
    assert f"\nSubject: [PATCH] [Backport] {get_patch(STABLE).title}\n" in text
    added, removed, path = git(repo, "apply", "--numstat", str(mbox)).split("\t")
    assert path == MTP
    assert f" {MTP} | {int(added) + int(removed)} " in text
    assert f" 1 file changed, {added} insertions(+), {removed} deletion" in text


def test_the_same_inputs_give_the_same_mbox(tmp_path, release):
    repo = checkout(tmp_path, release)
    first = run_cli("export", STABLE, "--target", str(repo), SOURCE_DATE_EPOCH="0")
    second = run_cli("export", STABLE, "--target", str(repo), SOURCE_DATE_EPOCH="0")
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "\nDate: Thu, 01 Jan 1970 00:00:00 +0000\n" in first.stdout


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
def test_quilt_and_patch_p1_take_it_too(tmp_path, release):
    repo = checkout(tmp_path, release)
    _, mbox = export_to(tmp_path, repo)
    plain = tmp_path / "plain"
    copy_files(release("0.22.1"), plain)
    proc = subprocess.run(["patch", "-p1", "-i", str(mbox)], cwd=plain, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    patch = get_patch(STABLE)
    assert classify(patch, patch.targets[0], (plain / MTP).read_text()).kind == PATCHED


def test_a_fork_changed_target_is_refused_unless_forced(tmp_path, release):
    repo = checkout(tmp_path, release, change=fork_change)
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 1
    assert "a fork changed it" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not mbox.exists()

    forced, mbox = export_to(tmp_path, repo, "--force")
    assert forced.returncode == 0
    git(repo, "am", str(mbox))
    assert FORK_RETURN.strip() in (repo / MTP).read_text()  # the fork's change, kept


def test_a_tree_that_has_the_fix_gets_no_patch(tmp_path, release):
    repo = checkout(tmp_path, release, version="0.23.0")
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 1 and "cannot be written" in proc.stderr
    assert not mbox.exists()


def test_no_vllm_tree_is_bad_input(tmp_path):
    proc = run_cli("export", STABLE, "--target", str(tmp_path))
    assert proc.returncode == 2 and "is not a vLLM tree" in proc.stderr


# How the file is stored, and who the author is ------------------------------------------
@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_git_am_writes_the_fix_in_the_file_s_own_bytes(tmp_path, release, variant):
    """A BOM, a declared encoding, CR or mixed line ends: the mail's diff holds the file's
    own bytes, so git am (which keeps CRs with --keep-cr) writes exactly what apply writes."""
    repo = init_repo(tmp_path / "fork")
    copy_files(release("0.22.1"), repo)
    original = filebytes.TEXT[variant]((repo / MTP).read_bytes())
    (repo / MTP).write_bytes(original)
    commit_all(repo, "vLLM 0.22.1")
    proc, mbox = export_to(tmp_path, repo)
    assert proc.returncode == 0, proc.stderr
    added, removed, _ = git(repo, "apply", "--numstat", str(mbox)).split("\t")
    assert f" 1 file changed, {added} insertion" in mbox.read_bytes().decode("utf-8", "replace")
    assert f", {removed} deletion" in mbox.read_bytes().decode("utf-8", "replace")

    git(repo, "am", "--keep-cr", "--keep-non-patch", str(mbox))
    src = decode_source(original, MTP)
    patch = get_patch(STABLE)
    assert (repo / MTP).read_bytes() == src.encode(patch_text(patch, patch.targets[0], src.text))


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
