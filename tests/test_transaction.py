"""All-or-nothing writes: journal, temporaries, lock, recovery after a kill at any step."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from tests.helpers import run_python
from vllm_patches.record import sha256_of
from vllm_patches.transaction import (FAULT_ENV, FAULT_EXIT, JOURNAL, Change, TransactionError,
                                      commit, locked, pending, recover, steps)

OLD = {"pkg/a.py": b"a = 1\n", "pkg/b.py": b"b = 1\n"}
NEW = {"pkg/a.py": b"a = 2\n", "pkg/b.py": b"b = 2\n"}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "pkg").mkdir()
    for rel, data in OLD.items():
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def contents(root):
    return {rel: (root / rel).read_bytes() for rel in OLD}


def leftovers(root):
    """Temporaries and journals that a finished write must not leave behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith(".tmp") or p.name == JOURNAL)


def test_commit_writes_every_file_and_leaves_nothing_behind(tree):
    commit(tree / ".state", [Change(tree / rel, data) for rel, data in NEW.items()])
    assert contents(tree) == NEW
    assert leftovers(tree) == []


def test_commit_keeps_each_file_mode(tree):
    os.chmod(tree / "pkg/a.py", 0o600)
    os.chmod(tree / "pkg/b.py", 0o755)
    commit(tree / ".state", [Change(tree / rel, data) for rel, data in NEW.items()])
    assert stat.S_IMODE(os.stat(tree / "pkg/a.py").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tree / "pkg/b.py").st_mode) == 0o755


def test_commit_creates_and_removes_files(tree):
    commit(tree / ".state", [Change(tree / "pkg/new.json", b"{}\n", mode=0o640),
                             Change(tree / "pkg/b.py", None)])
    assert (tree / "pkg/new.json").read_bytes() == b"{}\n"
    assert stat.S_IMODE(os.stat(tree / "pkg/new.json").st_mode) == 0o640
    assert not (tree / "pkg/b.py").exists()


def test_commit_removes_stale_bytecode_of_changed_modules(tree):
    cache = tree / "pkg" / "__pycache__"
    cache.mkdir()
    for name in ("a.cpython-311.pyc", "a.cpython-311.opt-1.pyc", "ab.cpython-311.pyc"):
        (cache / name).write_bytes(b"stale")
    commit(tree / ".state", [Change(tree / "pkg/a.py", NEW["pkg/a.py"])])
    assert sorted(p.name for p in cache.iterdir()) == ["ab.cpython-311.pyc"]


def test_a_failed_write_changes_nothing(tree):
    changes = [Change(tree / "pkg/a.py", NEW["pkg/a.py"]),
               Change(tree / "missing-folder/c.py", b"c = 1\n")]
    with pytest.raises(TransactionError, match="nothing was changed"):
        commit(tree / ".state", changes)
    assert contents(tree) == OLD
    assert leftovers(tree) == [] and not pending(tree / ".state")


COMMIT_TWO = """
import sys
from pathlib import Path
from vllm_patches.transaction import Change, commit, locked
root = Path(sys.argv[1])
with locked(root / ".state"):
    commit(root / ".state", [Change(root / "pkg/a.py", b"a = 2\\n"),
                             Change(root / "pkg/b.py", b"b = 2\\n")])
"""


@pytest.mark.parametrize("step", steps(2))
def test_a_kill_at_any_step_is_completed_or_rolled_back(tree, step):
    proc = run_python(["-c", COMMIT_TWO, str(tree)], check=False, **{FAULT_ENV: step})
    assert proc.returncode == FAULT_EXIT, proc.stderr
    state = tree / ".state"
    assert pending(state)
    for rel in OLD:  # every file whole: old or new bytes, never anything else
        assert (tree / rel).read_bytes() in (OLD[rel], NEW[rel])
    with locked(state):
        outcome = recover(state)
    before_commit = steps(2).index(step) < steps(2).index("committed")
    assert outcome == ("rolled-back" if before_commit else "completed")
    assert contents(tree) == (OLD if before_commit else NEW)
    assert leftovers(tree) == [] and not pending(state)


def test_recover_without_a_journal_does_nothing(tree):
    assert recover(tree / ".state") is None


def test_a_corrupt_journal_is_one_clear_error(tree):
    (tree / ".state").mkdir()
    (tree / ".state" / JOURNAL).write_text("{oops")
    with pytest.raises(TransactionError, match="unreadable"):
        recover(tree / ".state")


def test_a_journal_naming_files_outside_the_tree_is_refused(tree):
    (tree / ".state").mkdir()
    (tree / ".state" / JOURNAL).write_text(
        '{"state": "committed", "files": [{"path": "../x.py", "temp": null, "after": null}]}')
    with pytest.raises(TransactionError, match="unreadable"):
        recover(tree / ".state")


def test_the_lock_keeps_a_second_writer_waiting(tree):
    state = tree / ".state"
    order = []
    inside = threading.Event()

    def first():
        with locked(state):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait()
    with locked(state):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_the_state_folder_goes_when_only_the_lock_is_left(tree):
    with locked(tree / ".state"):
        assert (tree / ".state" / "lock").exists()
    assert not (tree / ".state").exists()
    with locked(tree / ".state"):
        (tree / ".state" / "record.json").write_text("{}")
    assert (tree / ".state" / "record.json").exists()


def test_checksums_in_the_journal_name_the_new_bytes(tree):
    proc = run_python(["-c", COMMIT_TWO, str(tree)], check=False, **{FAULT_ENV: "prepared"})
    assert proc.returncode == FAULT_EXIT
    journal = json.loads((tree / ".state" / JOURNAL).read_text())
    assert [f["after"] for f in journal["files"]] == [sha256_of(d) for d in NEW.values()]
    assert [f["before"] for f in journal["files"]] == [sha256_of(d) for d in OLD.values()]
