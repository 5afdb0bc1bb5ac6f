"""All-or-nothing writes: journal, temporaries, lock, recovery after a kill at any step."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import threading
import time

import pytest

from tests.helpers import run_python
from tests.kills import every_kill
from vllm_patches.core.pathguard import STATE_DIR
from vllm_patches.source.record import sha256_of
from vllm_patches.source.transaction import (
    FAULT_ENV,
    FAULT_EXIT,
    JOURNAL,
    LOCK,
    Change,
    TransactionError,
    commit,
    locked,
    pending,
    recover,
    steps,
)

OLD = {"vllm/a.py": b"a = 1\n", "vllm/b.py": b"b = 1\n"}
NEW = {"vllm/a.py": b"a = 2\n", "vllm/b.py": b"b = 2\n"}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "vllm").mkdir()
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
    commit(tree / STATE_DIR, [Change(tree / rel, data) for rel, data in NEW.items()])
    assert contents(tree) == NEW
    assert leftovers(tree) == []


def test_commit_keeps_each_file_mode(tree):
    os.chmod(tree / "vllm/a.py", 0o600)
    os.chmod(tree / "vllm/b.py", 0o755)
    commit(tree / STATE_DIR, [Change(tree / rel, data) for rel, data in NEW.items()])
    assert stat.S_IMODE(os.stat(tree / "vllm/a.py").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tree / "vllm/b.py").st_mode) == 0o755


def test_commit_creates_and_removes_files(tree):
    commit(tree / STATE_DIR, [Change(tree / "vllm/new.json", b"{}\n", mode=0o640),
                             Change(tree / "vllm/b.py", None)])
    assert (tree / "vllm/new.json").read_bytes() == b"{}\n"
    assert stat.S_IMODE(os.stat(tree / "vllm/new.json").st_mode) == 0o640
    assert not (tree / "vllm/b.py").exists()


def test_commit_removes_stale_bytecode_of_changed_modules(tree):
    cache = tree / "vllm" / "__pycache__"
    cache.mkdir()
    for name in ("a.cpython-311.pyc", "a.cpython-311.opt-1.pyc", "ab.cpython-311.pyc"):
        (cache / name).write_bytes(b"stale")
    commit(tree / STATE_DIR, [Change(tree / "vllm/a.py", NEW["vllm/a.py"])])
    assert sorted(p.name for p in cache.iterdir()) == ["ab.cpython-311.pyc"]


def test_a_failed_write_changes_nothing(tree):
    changes = [Change(tree / "vllm/a.py", NEW["vllm/a.py"]),
               Change(tree / "vllm/missing-folder/c.py", b"c = 1\n")]
    with pytest.raises(TransactionError, match="nothing was changed"):
        commit(tree / STATE_DIR, changes)
    assert contents(tree) == OLD
    assert leftovers(tree) == [] and not pending(tree / STATE_DIR)


COMMIT_TWO = """
import sys
from pathlib import Path
from vllm_patches.source.transaction import Change, commit, locked
root = Path(sys.argv[1])
with locked(root / ".vllm-patches"):
    commit(root / ".vllm-patches", [Change(root / "vllm/a.py", b"a = 2\\n"),
                                    Change(root / "vllm/b.py", b"b = 2\\n")])
"""


@pytest.mark.parametrize("step", steps(2))
def test_a_kill_at_any_step_is_completed_or_rolled_back(tree, step):
    proc = run_python(["-c", COMMIT_TWO, str(tree)], check=False, **{FAULT_ENV: step})
    assert proc.returncode == FAULT_EXIT, proc.stderr
    state = tree / STATE_DIR
    assert pending(state)
    for rel in OLD:  # every file whole: old or new bytes, never anything else
        assert (tree / rel).read_bytes() in (OLD[rel], NEW[rel])
    with locked(state):
        outcome = recover(state)
    before_commit = steps(2).index(step) < steps(2).index("committed")
    assert outcome == ("rolled-back" if before_commit else "completed")
    assert contents(tree) == (OLD if before_commit else NEW)
    assert leftovers(tree) == [] and not pending(state)


def fresh_tree(tree):
    """``tree`` as the fixture made it, whatever a killed write left."""
    def make():
        shutil.rmtree(tree / STATE_DIR, ignore_errors=True)
        for path in (tree / "vllm").iterdir():
            if path.name not in {p.rsplit("/", 1)[1] for p in OLD}:
                path.unlink()
        for rel, data in OLD.items():
            (tree / rel).write_bytes(data)
    return make


def commit_both(tree):
    state = tree / STATE_DIR
    with locked(state):
        commit(state, [Change(tree / rel, data) for rel, data in NEW.items()])


def recovered_whole(tree):
    """Recover as the next command does; the files all old or all new, nothing left over."""
    state = tree / STATE_DIR
    with locked(state):
        recover(state)
    assert contents(tree) in (OLD, NEW)
    assert leftovers(tree) == [] and not state.exists()


def test_a_kill_before_any_change_of_a_commit_leaves_no_trace_once_recovered(tree):
    """Every open, write, fsync, rename and unlink of a commit (the journal's own
    temporary too), not only the steps of VLLM_PATCHES_FAULT."""
    points = [k for k in every_kill(lambda: commit_both(tree), fresh_tree(tree))
              if recovered_whole(tree) is None]
    assert len(points) > 20


def shape_of(files):
    """What a kill left, without the write's id: the names and the bytes of the files."""
    def what(rel, data):
        if rel in OLD:
            return data
        return json.loads(data)["state"].encode() if rel.endswith(JOURNAL) else b""

    return tuple(sorted((re.sub(r"[0-9]+[.-][0-9a-f]+\.tmp$", "ID.tmp", rel), what(rel, data))
                        for rel, data in files.items()))


def test_a_kill_while_recovering_leaves_no_trace_once_recovered_again(tree):
    state = tree / STATE_DIR
    fresh = fresh_tree(tree)
    seen = set()
    for _ in every_kill(lambda: commit_both(tree), fresh):
        left = files_of(tree)
        if shape_of(left) in seen:  # the same as a kill at an earlier point left
            continue
        seen.add(shape_of(left))

        def as_left(left=left):  # this kill's files, bound now
            fresh()
            for rel, data in left.items():
                (tree / rel).parent.mkdir(exist_ok=True)
                (tree / rel).write_bytes(data)

        def recovering():
            with locked(state):
                recover(state)

        for _ in every_kill(recovering, as_left):
            recovered_whole(tree)
        as_left()
        recovered_whole(tree)


def test_recover_without_a_journal_does_nothing(tree):
    assert recover(tree / STATE_DIR) is None


def test_a_corrupt_journal_is_one_clear_error(tree):
    (tree / STATE_DIR).mkdir()
    (tree / STATE_DIR / JOURNAL).write_text("{oops")
    with pytest.raises(TransactionError, match="unreadable JSON"):
        recover(tree / STATE_DIR)


# A journal read from disk is checked whole before anything is done --------------
def files_of(root):
    """Every file and symlink under ``root`` (bytes, or where a link points), but the lock."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif name in names and name != LOCK:
                with open(path, "rb") as fh:
                    found[rel] = fh.read()
    return found


def interrupted(tree, step):
    """The journal a write of both files leaves when killed right after ``step``."""
    proc = run_python(["-c", COMMIT_TWO, str(tree)], check=False, **{FAULT_ENV: step})
    assert proc.returncode == FAULT_EXIT, proc.stderr
    return json.loads((tree / STATE_DIR / JOURNAL).read_text())


def rewrite(tree, journal):
    (tree / STATE_DIR / JOURNAL).write_text(json.dumps(journal))


def other_temp(journal, i=0):
    return journal["files"][i]["temp"].replace(journal["id"], "1-00000000")


def first(**fields):
    """A change to the journal's first entry."""
    return lambda j: j["files"][0].update(fields)


# (change to a real journal, what the refusal names); each leaves a journal that no
# write of vllm-patches could have left.
BAD_JOURNALS = {
    "id not a string": (lambda j: j.update(id=7), "'id' is not the id"),
    "id naming a path": (lambda j: j.update(id="../../x"), "'id' is not the id"),
    "unknown state": (lambda j: j.update(state="done"), "'state' is neither"),
    "state not a string": (lambda j: j.update(state=["committed"]), "'state' is neither"),
    "no files": (lambda j: j.update(files=[]), "'files' is not a list"),
    "files not a list": (lambda j: j.update(files="vllm/a.py"), "'files' is not a list"),
    "entry not an object": (lambda j: j["files"].append("vllm/c.py"), "is not an object"),
    "path not a string": (first(path=["vllm", "a.py"]), "is not a path"),
    "absolute path": (first(path="/etc/passwd"), "an absolute path"),
    "path through ..": (first(path="vllm/../vllm/a.py"), "through '..'"),
    "path not plain": (first(path="vllm//a.py"), "not a plain relative path"),
    "path with NUL": (first(path="vllm/a.py\x00"), "control character"),
    "path outside vllm/": (first(path="setup.py"), "is not under"),
    "path under .git": (first(path=".git/hooks/post-commit"), "under .git"),
    "state file not the record": (first(path=f"{STATE_DIR}/lock"), "neither under vllm/"),
    "the vllm folder itself": (first(path="vllm"), "is a folder"),
    "temp of another write": (lambda j: j["files"][0].update(temp=other_temp(j)),
                              "the temporary of vllm/a.py should be"),
    "temp in another folder": (lambda j: j["files"][0].update(
        temp=j["files"][0]["temp"].replace("vllm/", "vllm/sub/")), "should be"),
    "temp naming a file of the tree": (first(temp="vllm/b.py"), "should be"),
    "before not a sha256": (first(before="abc"), "'before' of vllm/a.py is not a sha256"),
    "after in capitals": (lambda j: j["files"][0].update(after=j["files"][0]["after"].upper()),
                          "'after' of vllm/a.py is not a sha256"),
    "after missing with a temp": (first(after=None), "'after' of vllm/a.py is not a sha256"),
    "after without a temp": (first(temp=None), "no temporary that holds them"),
    "mode true": (first(mode=True), "'mode' of vllm/a.py is not a file mode"),
    "mode negative": (first(mode=-1), "is not a file mode"),
    "mode with the file type": (first(mode=0o100644), "is not a file mode"),
    "mode a string": (first(mode="644"), "is not a file mode"),
    "one file twice": (lambda j: j["files"].append(dict(j["files"][0])), "names one file twice"),
}


@pytest.mark.parametrize("state", ["staged:1", "committed"])  # rolled back / completed
@pytest.mark.parametrize("case", sorted(BAD_JOURNALS))
def test_a_journal_that_fails_any_check_changes_nothing(tree, state, case):
    change, problem = BAD_JOURNALS[case]
    journal = interrupted(tree, state)
    change(journal)
    rewrite(tree, journal)
    before = files_of(tree)
    with pytest.raises(TransactionError) as err:
        with locked(tree / STATE_DIR):
            recover(tree / STATE_DIR)
    message = str(err.value)
    assert "cannot be trusted" in message and problem in message, message
    assert str(tree / STATE_DIR / JOURNAL) in message and "\n" not in message
    assert files_of(tree) == before  # not even a temporary removed


@pytest.mark.parametrize("case,change,problem", [
    ("temporary changed", lambda tree, temp: (tree / temp).write_bytes(b"import os\n"),
     "does not hold the bytes the journal names"),
    ("file changed since", lambda tree, temp: (tree / "vllm/a.py").write_bytes(b"a = 3\n"),
     "vllm/a.py changed since the write was interrupted"),
    ("temporary a symlink", lambda tree, temp: ((tree / temp).unlink(),
                                                (tree / temp).symlink_to(tree / "vllm/b.py")),
     "is not a plain file"),
])
def test_a_committed_journal_is_completed_only_with_the_bytes_it_names(tree, case, change,
                                                                      problem):
    journal = interrupted(tree, "committed")
    change(tree, journal["files"][0]["temp"])
    before = files_of(tree)
    with pytest.raises(TransactionError, match=problem):
        recover(tree / STATE_DIR)
    assert files_of(tree) == before


def test_a_journal_nested_too_deeply_is_one_clear_error(tree):
    (tree / STATE_DIR).mkdir()
    (tree / STATE_DIR / JOURNAL).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TransactionError, match="nested too deeply"):
        recover(tree / STATE_DIR)


@pytest.fixture
def outside(tmp_path):
    """A folder beside the tree, with a file that must never change."""
    folder = tmp_path.parent / (tmp_path.name + "-outside")
    folder.mkdir()
    (folder / "x.py").write_bytes(b"precious = 1\n")
    return folder


def test_a_journal_naming_a_file_through_a_symlinked_folder_is_refused(tree, outside):
    journal = interrupted(tree, "committed")
    (tree / "vllm/evil").symlink_to(outside, target_is_directory=True)
    temp = ".x.py.vllm-patches-" + journal["id"] + ".tmp"
    (outside / temp).write_bytes(b"stolen = 1\n")
    journal["files"][0].update(path="vllm/evil/x.py", temp="vllm/evil/" + temp,
                               before=sha256_of(b"precious = 1\n"),
                               after=sha256_of(b"stolen = 1\n"))
    rewrite(tree, journal)
    before = files_of(outside), files_of(tree)
    with pytest.raises(TransactionError, match="leads outside the vLLM tree"):
        recover(tree / STATE_DIR)
    assert (files_of(outside), files_of(tree)) == before


def test_a_journal_that_is_a_symlink_is_refused(tree, outside):
    journal = interrupted(tree, "committed")
    (outside / JOURNAL).write_text(json.dumps(journal))
    (tree / STATE_DIR / JOURNAL).unlink()
    (tree / STATE_DIR / JOURNAL).symlink_to(outside / JOURNAL)
    before = files_of(tree)
    with pytest.raises(TransactionError, match="is not a plain file"):
        recover(tree / STATE_DIR)
    assert files_of(tree) == before


def test_a_lock_that_is_a_symlink_is_refused(tree, outside):
    (tree / STATE_DIR).mkdir()
    (tree / STATE_DIR / LOCK).symlink_to(outside / "lock-target")
    with pytest.raises(TransactionError, match="is not a plain file"):
        with locked(tree / STATE_DIR):
            pass
    assert not (outside / "lock-target").exists()


def test_a_state_folder_that_leads_out_of_the_tree_is_refused(tree, outside):
    (tree / STATE_DIR).symlink_to(outside, target_is_directory=True)
    for act in (lambda: locked(tree / STATE_DIR).__enter__(), lambda: recover(tree / STATE_DIR),
                lambda: commit(tree / STATE_DIR, [Change(tree / "vllm/a.py", b"a = 2\n")])):
        with pytest.raises(TransactionError, match="leads outside the vLLM tree"):
            act()
    assert sorted(os.listdir(outside)) == ["x.py"] and contents(tree) == OLD


@pytest.mark.parametrize("where,problem", [
    ("setup.py", "is not under"),
    (".git/hooks/post-commit", "under .git"),
    ("vllm/evil/x.py", "leads outside the vLLM tree"),
])
def test_commit_writes_nothing_a_journal_could_not_name(tree, outside, where, problem):
    (tree / "vllm/evil").symlink_to(outside, target_is_directory=True)
    before = files_of(outside), files_of(tree)
    with pytest.raises(TransactionError, match=problem):
        commit(tree / STATE_DIR, [Change(tree / "vllm/a.py", b"a = 2\n"),
                                  Change(tree / where, b"#!/bin/sh\n")])
    assert (files_of(outside), files_of(tree)) == before


def test_bytecode_behind_a_symlink_out_of_the_tree_is_left_alone(tree, outside):
    (outside / "a.cpython-311.pyc").write_bytes(b"not ours")
    (tree / "vllm/__pycache__").symlink_to(outside, target_is_directory=True)
    commit(tree / STATE_DIR, [Change(tree / "vllm/a.py", NEW["vllm/a.py"])])
    assert (tree / "vllm/a.py").read_bytes() == NEW["vllm/a.py"]
    assert (outside / "a.cpython-311.pyc").read_bytes() == b"not ours"


def test_the_lock_keeps_a_second_writer_waiting(tree):
    state = tree / STATE_DIR
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
    with locked(tree / STATE_DIR):
        assert (tree / STATE_DIR / "lock").exists()
    assert not (tree / STATE_DIR).exists()
    with locked(tree / STATE_DIR):
        (tree / STATE_DIR / "record.json").write_text("{}")
    assert (tree / STATE_DIR / "record.json").exists()


def test_checksums_in_the_journal_name_the_new_bytes(tree):
    proc = run_python(["-c", COMMIT_TWO, str(tree)], check=False, **{FAULT_ENV: "prepared"})
    assert proc.returncode == FAULT_EXIT
    journal = json.loads((tree / STATE_DIR / JOURNAL).read_text())
    assert [f["after"] for f in journal["files"]] == [sha256_of(d) for d in NEW.values()]
    assert [f["before"] for f in journal["files"]] == [sha256_of(d) for d in OLD.values()]
