"""State planted in a fork's checkout: a journal or record naming what vllm-patches never writes.

A fork repository can commit ``.vllm-patches/journal.json`` or
``.vllm-patches/record.json``; ``vllm-patches apply --target .`` then reads
them. Each case here plants one such file (and the symlinks it needs) in a
git checkout of a real release's files, runs the CLI, and checks that it
says one sentence, exits 2 (or, for ``status``, warns and goes on), and that
no byte changed: not outside the tree, not under ``.git``, not in the tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.pathguard import STATE_DIR
from vllm_patches.source.record import Entry, FileRecord, Record, sha256_of
from vllm_patches.source.transaction import JOURNAL, LOCK

STABLE = "gemma4-mtp-stable-lm-head"
MODULE = get_patch(STABLE).targets[0].relpath
TXID = "4242-0badf00d"  # shaped like the id of a real write
HOOK = b"#!/bin/sh\necho planted by a journal\n"
PAYLOAD = b"raise SystemExit('planted')\n"
PRECIOUS = b"precious = 1\n"


@dataclass(frozen=True)
class Fork:
    top: Path  # holds the checkout and the folder beside it
    root: Path  # the checkout: vllm/, .git/
    outside: Path  # a folder beside the checkout, holding precious.py


# The real files of 0.22.1 that these cases read or name.
FILES = ("vllm/__init__.py", "vllm/envs.py", "vllm/v1/__init__.py", MODULE)


@pytest.fixture
def fork(release, tmp_path) -> Fork:
    """A git checkout of the real 0.22.1 files the cases need, and a folder beside it."""
    src = release("0.22.1")
    root = tmp_path / "fork"
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, root / rel)
    for info in src.glob("vllm-*.dist-info"):
        shutil.copytree(info, root / info.name)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.py").write_bytes(PRECIOUS)
    (root / STATE_DIR).mkdir()
    return Fork(tmp_path, root, outside)


def snapshot(top: Path) -> dict[str, object]:
    """Every file and symlink under ``top`` (bytes, or where a link points), but locks."""
    found: dict[str, object] = {}
    for folder, dirs, names in os.walk(top):
        for name in dirs + names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, top)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif name in names and not (name == LOCK and folder.endswith(STATE_DIR)):
                with open(path, "rb") as fh:
                    found[rel] = sha256_of(fh.read())
    return found


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vllm-patches: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


# Planting --------------------------------------------------------------------------
def link(fork: Fork, rel: str, target: Path | str) -> None:
    (fork.root / rel).symlink_to(target)


def temp_of(rel: str) -> str:
    """The temporary that ``commit`` would name for ``rel`` in the write TXID."""
    folder, _, name = rel.rpartition("/")
    return f"{folder}/.{name}.vllm-patches-{TXID}.tmp" if folder else f".{name}..tmp"


def staged(fork: Fork, rel: str, data: bytes, *, before: bytes | None = None,
           after: bytes | None = None, temp: str | None = None) -> dict:
    """A journal entry that replaces ``rel`` by ``data``, its temporary written (through
    whatever symlinks were planted)."""
    temp = temp or temp_of(rel)
    (fork.root / temp).write_bytes(data)
    return {"path": rel, "temp": temp, "before": None if before is None else sha256_of(before),
            "after": sha256_of(data if after is None else after), "mode": 0o755}


def journal(fork: Fork, state: str, *files: dict) -> None:
    (fork.root / STATE_DIR / JOURNAL).write_text(
        json.dumps({"id": TXID, "state": state, "files": list(files)}))


def module_bytes(fork: Fork) -> bytes:
    return (fork.root / MODULE).read_bytes()


def hook_in_git(fork):
    journal(fork, "committed", staged(fork, ".git/hooks/post-commit", HOOK))


def hook_through_a_symlinked_folder(fork):
    link(fork, "vllm/hooks", "../.git/hooks")
    journal(fork, "committed", staged(fork, "vllm/hooks/post-commit", HOOK))


def file_through_a_symlinked_folder(fork):
    link(fork, "vllm/evil", fork.outside)
    journal(fork, "committed",
            staged(fork, "vllm/evil/precious.py", PAYLOAD, before=PRECIOUS))


def file_that_is_a_symlink(fork):
    link(fork, "vllm/evil.py", fork.outside / "precious.py")
    journal(fork, "committed", staged(fork, "vllm/evil.py", PAYLOAD, before=PRECIOUS))


def temporary_that_is_a_symlink(fork):
    (fork.outside / "payload.py").write_bytes(PAYLOAD)
    link(fork, temp_of(MODULE), fork.outside / "payload.py")
    journal(fork, "committed", {"path": MODULE, "temp": temp_of(MODULE),
                                "before": sha256_of(module_bytes(fork)),
                                "after": sha256_of(PAYLOAD), "mode": 0o644})


def absolute_path(fork):
    journal(fork, "committed", {"path": str(fork.outside / "precious.py"), "temp": None,
                                "before": sha256_of(PRECIOUS), "after": None, "mode": 0o644})


def path_through_dotdot(fork):
    journal(fork, "committed", {"path": f"vllm/../../{fork.outside.name}/precious.py",
                                "temp": None, "before": sha256_of(PRECIOUS), "after": None,
                                "mode": 0o644})


def temporary_in_another_folder(fork):
    journal(fork, "prepared", staged(fork, "vllm/__init__.py", PAYLOAD,
                                     temp=temp_of("vllm/v1/__init__.py")))


def temporary_naming_a_file_of_the_tree(fork):
    journal(fork, "prepared", {"path": "vllm/__init__.py", "temp": "vllm/envs.py",
                               "before": None, "after": sha256_of(PAYLOAD), "mode": 0o644})


def temporary_with_other_bytes(fork):
    journal(fork, "committed", staged(fork, MODULE, PAYLOAD, before=module_bytes(fork),
                                      after=b"what the journal claims\n"))


def prepared_temporary_through_a_symlinked_folder(fork):
    link(fork, "vllm/evil", fork.outside)
    journal(fork, "prepared", staged(fork, "vllm/evil/precious.py", PAYLOAD, before=PRECIOUS))


def prepared_temporary_through_dotdot(fork):
    rel = f"vllm/../../{fork.outside.name}/precious.py"
    journal(fork, "prepared", staged(fork, rel, PAYLOAD, before=PRECIOUS))


def journal_nested_too_deeply(fork):
    (fork.root / STATE_DIR / JOURNAL).write_text("[" * 100_000 + "]" * 100_000)


def journal_that_is_a_symlink(fork):
    entry = staged(fork, MODULE, PAYLOAD, before=module_bytes(fork))
    (fork.outside / JOURNAL).write_text(
        json.dumps({"id": TXID, "state": "committed", "files": [entry]}))
    link(fork, f"{STATE_DIR}/{JOURNAL}", fork.outside / JOURNAL)


def lock_that_is_a_symlink(fork):
    link(fork, f"{STATE_DIR}/{LOCK}", "../.git/hooks/post-merge")


def state_folder_out_of_the_tree(fork):
    (fork.root / STATE_DIR).rmdir()
    (fork.outside / "state").mkdir()
    link(fork, STATE_DIR, fork.outside / "state")
    journal(fork, "prepared", staged(fork, MODULE, PAYLOAD, before=module_bytes(fork)))


PLANTED_JOURNALS = {  # how to plant it -> what the one sentence names
    hook_in_git: "under .git",
    hook_through_a_symlinked_folder: "under .git (through a symlink",
    file_through_a_symlinked_folder: "leads outside the vLLM tree",
    file_that_is_a_symlink: "leads outside the vLLM tree",
    temporary_that_is_a_symlink: "is not a plain file",
    absolute_path: "an absolute path",
    path_through_dotdot: "through '..'",
    temporary_in_another_folder: "the temporary of vllm/__init__.py should be",
    temporary_naming_a_file_of_the_tree: "the temporary of vllm/__init__.py should be",
    temporary_with_other_bytes: "does not hold the bytes the journal names",
    prepared_temporary_through_a_symlinked_folder: "leads outside the vLLM tree",
    prepared_temporary_through_dotdot: "through '..'",
    journal_nested_too_deeply: "nested too deeply",
    journal_that_is_a_symlink: "is not a plain file",
    state_folder_out_of_the_tree: "leads outside the vLLM tree",
}


@pytest.mark.parametrize("verb", ["apply", "revert"])
@pytest.mark.parametrize("plant", list(PLANTED_JOURNALS), ids=lambda f: f.__name__)
def test_a_planted_journal_changes_no_byte_anywhere(fork, plant, verb):
    plant(fork)
    before = snapshot(fork.top)
    proc = run_cli(verb, "--target", str(fork.root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert PLANTED_JOURNALS[plant] in one_error_line(proc)
    assert snapshot(fork.top) == before  # outside, under .git, in the tree: all as they were
    assert not (fork.root / ".git/hooks/post-commit").exists()


def test_a_planted_lock_creates_nothing_under_git(fork):
    lock_that_is_a_symlink(fork)
    before = snapshot(fork.top)
    proc = run_cli("apply", "--target", str(fork.root))
    assert proc.returncode == 2 and "is not a plain file" in one_error_line(proc)
    assert snapshot(fork.top) == before and not (fork.root / ".git/hooks/post-merge").exists()


def test_the_refusal_says_which_journal_and_what_to_do(fork):
    hook_in_git(fork)
    line = one_error_line(run_cli("apply", "--target", str(fork.root)))
    assert str(fork.root / STATE_DIR / JOURNAL) in line
    assert "nothing was changed" in line and "remove it by hand" in line


def test_bytecode_behind_a_symlink_out_of_the_tree_survives_an_apply(fork):
    cache = fork.outside / "cache"
    cache.mkdir()
    pyc = cache / (Path(MODULE).stem + ".cpython-311.pyc")
    pyc.write_bytes(b"not the tree's")
    link(fork, str(Path(MODULE).parent / "__pycache__"), cache)
    proc = run_cli("apply", "--target", str(fork.root))
    assert proc.returncode == 0, proc.stderr
    assert f"{STABLE} applied" in proc.stdout
    assert pyc.read_bytes() == b"not the tree's"


# A planted record --------------------------------------------------------------------
def record(fork: Fork, rel: str, *, after: bytes = PRECIOUS, **fields: object) -> bytes:
    """A record of the stable patch written into ``rel`` (the file now holding ``after``)."""
    entry = Entry(STABLE, "0.1.0", "2026-11-24T00:00:00Z", "0.22.1", False,
                  {MODULE: FileRecord(sha256_of(module_bytes(fork)), sha256_of(after))})
    data = json.loads(Record((entry,)).to_bytes())
    data["applied"][0]["files"] = {rel: data["applied"][0]["files"][MODULE]}
    data["applied"][0].update(fields)
    return json.dumps(data).encode()


def plant_record(fork: Fork, raw: bytes) -> None:
    (fork.root / STATE_DIR / "record.json").write_bytes(raw)


def record_of_a_git_hook(fork):
    plant_record(fork, record(fork, ".git/hooks/post-commit"))


def record_through_a_symlinked_folder(fork):
    link(fork, "vllm/evil", fork.outside)
    plant_record(fork, record(fork, "vllm/evil/precious.py"))


def record_of_a_file_that_is_a_symlink(fork):
    link(fork, "vllm/evil.py", fork.outside / "precious.py")
    plant_record(fork, record(fork, "vllm/evil.py"))


def record_with_an_absolute_path(fork):
    plant_record(fork, record(fork, str(fork.outside / "precious.py")))


def record_through_dotdot(fork):
    plant_record(fork, record(fork, f"vllm/../../{fork.outside.name}/precious.py"))


def record_with_an_id_that_is_no_id(fork):
    plant_record(fork, record(fork, MODULE, id=f"{STABLE}\nvllm-patches: all is well"))


def record_that_is_a_symlink(fork):
    (fork.outside / "record.json").write_bytes(record(fork, MODULE))
    link(fork, f"{STATE_DIR}/record.json", fork.outside / "record.json")


def record_nested_too_deeply(fork):
    plant_record(fork, b"[" * 100_000 + b"]" * 100_000)


PLANTED_RECORDS = {
    record_of_a_git_hook: "under .git",
    record_through_a_symlinked_folder: "leads outside the vLLM tree",
    record_of_a_file_that_is_a_symlink: "leads outside the vLLM tree",
    record_with_an_absolute_path: "an absolute path",
    record_through_dotdot: "through '..'",
    record_with_an_id_that_is_no_id: "is not a patch id",
    record_that_is_a_symlink: "leads outside the vLLM tree",
    record_nested_too_deeply: "nested too deeply",
}


@pytest.mark.parametrize("plant", list(PLANTED_RECORDS), ids=lambda f: f.__name__)
def test_revert_refuses_a_planted_record_and_changes_nothing(fork, plant):
    plant(fork)
    before = snapshot(fork.top)
    proc = run_cli("revert", "--target", str(fork.root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "is corrupt" in line and PLANTED_RECORDS[plant] in line
    assert snapshot(fork.top) == before


@pytest.mark.parametrize("plant", list(PLANTED_RECORDS), ids=lambda f: f.__name__)
def test_status_warns_about_a_planted_record_and_goes_on(fork, plant):
    plant(fork)
    before = snapshot(fork.top)
    proc = run_cli("status", "--target", str(fork.root))
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and PLANTED_RECORDS[plant] in proc.stderr
    assert "Traceback" not in proc.stderr and f"{STABLE}" in proc.stdout
    assert snapshot(fork.top) == before


def test_status_never_reads_a_file_outside_the_tree(fork):
    """A FIFO outside would hang any reader: status must not open it."""
    os.mkfifo(fork.outside / "fifo.py")
    link(fork, "vllm/evil", fork.outside)
    plant_record(fork, record(fork, "vllm/evil/fifo.py"))
    proc = run_cli("status", "--target", str(fork.root), timeout=120)
    assert proc.returncode == 0 and "leads outside the vLLM tree" in proc.stderr
